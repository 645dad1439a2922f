/**
 * `--cache-to type=inline`: the pushed image carries its cache record in a manifest annotation,
 * so another machine building with `--cache-from IMAGE` hits every step of the final image and
 * gets the same image ID.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { assertOk, buildW, type CliRoot, cliRoot, copyContext, ran, W } from './helpers.ts';

const FILES = { ...W, 'lib.txt': 'lib inline\n', 'app.txt': 'app inline\n' };

let a: CliRoot;
let b: CliRoot;
let reg: TestRegistry;
before(async () => {
  [a, b, reg] = await Promise.all([cliRoot('cache-ia'), cliRoot('cache-ib'), sharedRegistry()]);
});
after(async () => {
  await a.close();
  await b.close();
});

describe('inline cache', () => {
  it('an image pushed with inline cache makes another machine run no RUN of it', async () => {
    const ctxA = await a.context(FILES);
    const image = `${reg.host}/inline/app:1`;
    const first = await buildW(a, ctxA, ['-t', image, '--push', '--cache-to', 'type=inline']);
    assertOk(first, 'root A');
    const raw = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${image}`], {
      encoding: 'utf8',
    });
    assert.equal(raw.status, 0, raw.stderr);
    const record = JSON.parse(JSON.parse(raw.stdout).annotations['dev.kiln.cache.inline.v1']);
    assert.ok(record.results.length >= 3, `the final stage's steps: ${record.results.length}`);

    const ctxB = await copyContext(ctxA, join(b.dir, 'inline-ctx'));
    const second = await buildW(b, ctxB, ['--cache-from', image]);
    assertOk(second, 'root B');
    assert.deepEqual(ran(second.err), [], second.err);
    assert.equal(second.id, first.id);
  });

  it('with --squash, inline cache is skipped with a warning and the build passes', async () => {
    const ctx = await a.context({ ...FILES, 'app.txt': 'app squashed\n' });
    const r = await buildW(a, ctx, [
      '--squash',
      '-t',
      `${reg.host}/inline/squashed:1`,
      '--push',
      '--cache-to',
      'type=inline',
    ]);
    assertOk(r, 'squashed');
    assert.match(r.err, /--cache-to type=inline is skipped with --squash/);
  });
});
