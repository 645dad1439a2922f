/**
 * `kiln serve` takes the Engine API's `cachefrom` (docker build --cache-from IMAGE): an image
 * pushed with inline cache by another machine makes the served build run no RUN step. Only
 * references are accepted: a client cannot name a directory on the server as a cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { request, type Served, serve } from '../serve/helpers.ts';
import { assertOk, buildW, type CliRoot, cliRoot, ran, W } from './helpers.ts';

const FILES = { ...W, 'lib.txt': 'lib serve\n', 'app.txt': 'app serve\n' };

let a: CliRoot;
let s: Served;
let reg: TestRegistry;
before(async () => {
  [a, s, reg] = await Promise.all([cliRoot('cache-sa'), serve('cache'), sharedRegistry()]);
});
after(async () => {
  await a.close();
  await s?.close();
});

describe('kiln serve with cachefrom', () => {
  it('docker build --cache-from IMAGE hits the inline cache another machine pushed', async () => {
    const image = `${reg.host}/serve/app:1`;
    assertOk(
      await buildW(a, await a.context(FILES), ['-t', image, '--push', '--cache-to', 'type=inline']),
      'A',
    );
    const ctx = await s.context(FILES);
    const cold = s.run('/usr/bin/docker', ['build', '--cache-from', image, '-t', 'served:1', ctx], {
      env: { DOCKER_BUILDKIT: '0' },
    });
    assert.equal(cold.code, 0, cold.err);
    assert.deepEqual(ran(cold.out), [], cold.out);
    // The same build of other sources, with nothing to import, shows its RUN steps' output.
    const other = await s.context({ ...FILES, 'lib.txt': 'lib serve, other\n' });
    const built = s.run('/usr/bin/docker', ['build', other], { env: { DOCKER_BUILDKIT: '0' } });
    assert.equal(built.code, 0, built.err);
    assert.deepEqual(ran(built.out), ['build', 'deps', 'final']);
    assert.match(cold.out, /Successfully tagged served:1/);
  });

  it('refuses a cachefrom that is not an image reference', async () => {
    const q = encodeURIComponent(JSON.stringify(['type=local,src=/etc']));
    const r = await request(s.socket, 'POST', `/v1.41/build?cachefrom=${q}`, Buffer.alloc(0));
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /cachefrom takes image references/);
  });
});
