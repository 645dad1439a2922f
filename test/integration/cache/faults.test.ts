/**
 * A travelling cache that cannot be used never breaks a build: a cache ref that does not exist
 * and a corrupted layer blob in the cache repository each give a warning naming the source and
 * a correct build (the steps whose cache is unusable run); a registry that refuses the cache
 * push fails the build clearly, unless ignore-error=true.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, startRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { assertOk, buildW, type CliRoot, cliRoot, ran, W } from './helpers.ts';

const FILES = { ...W, 'lib.txt': 'lib faults\n', 'app.txt': 'app faults\n' };

let a: CliRoot;
let b: CliRoot;
let reg: TestRegistry;
let ctx: string;
before(async () => {
  [a, b, reg] = await Promise.all([cliRoot('cache-fa'), cliRoot('cache-fb'), sharedRegistry()]);
  ctx = await a.context(FILES);
});
after(async () => {
  await a.close();
  await b.close();
});

describe('unusable cache sources', () => {
  it('a cache ref that does not exist is a warning naming it, and the build runs cold', async () => {
    const missing = `${reg.host}/faults/nothing-here`;
    const out = join(a.dir, 'out-missing');
    const r = await buildW(b, ctx, ['--cache-from', missing, '-o', `type=local,dest=${out}`]);
    assertOk(r, 'build with a missing cache');
    assert.match(r.err, new RegExp(`cache import from ${missing} failed, building without it`));
    assert.deepEqual(ran(r.err), ['build', 'deps', 'final']);
    assert.equal(await readFile(join(out, 'size.txt'), 'utf8'), '22 /result.txt\n');
  });

  it('a corrupted layer blob in the cache repository is a warning, and its steps run', async () => {
    // A registry of its own: its storage is what gets corrupted.
    const own = await startRegistry();
    after(() => own.stop());
    const cacheRef = `${own.host}/faults/cache`;
    assertOk(await buildW(a, ctx, ['--cache-to', `type=registry,ref=${cacheRef},mode=max`]), 'export');
    // The final image's top layer (the last RUN's) is the longest result's last layer.
    const cfg = spawnSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--config', '--raw', `docker://${cacheRef}`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(cfg.status, 0, cfg.stderr);
    const record = JSON.parse(cfg.stdout)['dev.kiln.cache.v1'];
    const longest = record.results.reduce((x: { layers: number[] }, y: { layers: number[] }) =>
      y.layers.length > x.layers.length ? y : x,
    );
    const top = record.layers[longest.layers.at(-1)];
    const hex = top.digest.slice('sha256:'.length);
    const file = join(own.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(file, bytes);

    // A fresh machine: nothing of this build in its local cache.
    const c = await cliRoot('cache-fc');
    after(() => c.close());
    const out = join(c.dir, 'out-corrupt');
    const r = await buildW(c, ctx, ['--cache-from', cacheRef, '-o', `type=local,dest=${out}`]);
    assertOk(r, 'build with a corrupted cache');
    assert.match(r.err, new RegExp(`cache from ${cacheRef} is unusable for a step, building it`));
    assert.ok(ran(r.err).includes('final'), r.err);
    assert.ok(!ran(r.err).includes('deps'), `the intact layers still hit: ${r.err}`);
    assert.equal(await readFile(join(out, 'size.txt'), 'utf8'), '22 /result.txt\n');
  });
});

describe('a registry refusing the cache push', () => {
  let locked: TestRegistry;
  before(async () => {
    locked = await startRegistry({ htpasswd: { user: 'alice', password: 'not-given-to-kiln' } });
  });
  after(() => locked.stop());

  it('fails the build with CACHE_EXPORT_FAILED naming the destination', async () => {
    const ref = `${locked.host}/faults/cache`;
    const r = await buildW(a, ctx, ['--cache-to', `type=registry,ref=${ref}`]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`exporting cache to ${ref} failed`));
    assert.match(r.err, /ignore-error=true/);
  });

  it('an import from a registry that refuses the pull is a warning and a cold build', async () => {
    const ref = `${locked.host}/faults/cache`;
    const c = await cliRoot('cache-fd');
    try {
      const r = await buildW(c, ctx, ['--cache-from', ref]);
      assertOk(r, 'unauthorized import');
      assert.match(r.err, new RegExp(`cache import from ${ref} failed, building without it`));
      assert.deepEqual(ran(r.err), ['build', 'deps', 'final']);
    } finally {
      await c.close();
    }
  });

  it('with ignore-error=true is a warning and the build passes', async () => {
    const ref = `${locked.host}/faults/cache`;
    const r = await buildW(a, ctx, ['--cache-to', `type=registry,ref=${ref},ignore-error=true`]);
    assertOk(r, 'ignore-error build');
    assert.match(r.err, new RegExp(`exporting cache to ${ref} failed`));
  });
});
