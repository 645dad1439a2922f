/**
 * `--cache-to type=registry` on one machine, `--cache-from` on another: root A builds W and
 * exports its cache (mode=max, cache mounts included) to the rig's registry; root B, with the
 * context at another path, imports it and runs no RUN step, pushes the same image and finds A's
 * cache-mount files. The artifact is an ordinary image skopeo can read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheMountDir } from '../../../src/executor/run-mounts.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { startFaultProxy } from '../registry/fault-proxy.ts';
import {
  assertOk,
  type BuildOut,
  buildW,
  type CliRoot,
  cliRoot,
  copyContext,
  mountFile,
  ran,
  W,
} from './helpers.ts';

let a: CliRoot;
let b: CliRoot;
let reg: TestRegistry;
before(async () => {
  [a, b, reg] = await Promise.all([cliRoot('cache-a'), cliRoot('cache-b'), sharedRegistry()]);
});
after(async () => {
  await a.close();
  await b.close();
});

describe('registry cache between two machines', () => {
  let ctxA: string;
  let first: BuildOut;
  let cacheRef: string;
  before(async () => {
    ctxA = await a.context(W);
    cacheRef = `${reg.host}/w/cache`;
    first = await buildW(a, ctxA, [
      '-t',
      `${reg.host}/w/app:a`,
      '--push',
      '--cache-to',
      `type=registry,ref=${cacheRef},mode=max,cache-mounts=true`,
    ]);
    assertOk(first, 'root A');
  });

  it('root A runs every RUN and shows the export as its own step with bytes written', () => {
    assert.deepEqual(ran(first.err), ['build', 'deps', 'final']);
    assert.match(first.err, /exporting cache to registry/);
    assert.match(first.err, /wrote \d+ bytes \(\d+ results, \d+ layers\) to /);
  });

  it('skopeo reads the exported cache as an image whose config carries the record', () => {
    const raw = spawnSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--raw', `docker://${cacheRef}:latest`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(raw.status, 0, raw.stderr);
    const manifest = JSON.parse(raw.stdout);
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifest.annotations['dev.kiln.cache'], 'v1');
    const inspect = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${cacheRef}:latest`], {
      encoding: 'utf8',
    });
    assert.equal(inspect.status, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout);
    assert.equal(info.Labels['dev.kiln.cache.version'], '1');
    assert.equal(info.Layers.length, manifest.layers.length);
    const config = spawnSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--config', '--raw', `docker://${cacheRef}:latest`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(config.status, 0, config.stderr);
    const record = JSON.parse(config.stdout)['dev.kiln.cache.v1'];
    assert.ok(record.results.length >= 6, `mode=max records every step: ${record.results.length}`);
    assert.equal(record.mounts.length, 1);
  });

  it('root B, with the context elsewhere, runs no RUN, pushes the same image and gets the cache mount', async () => {
    const ctxB = await copyContext(ctxA, join(b.dir, 'elsewhere', 'project'));
    const second = await buildW(b, ctxB, ['-t', `${reg.host}/w/app:b`, '--push', '--cache-from', cacheRef]);
    assertOk(second, 'root B');
    assert.deepEqual(ran(second.err), [], second.err);
    assert.match(second.err, /importing cache manifest from /);
    assert.match(second.err, /CACHED/);
    assert.equal(second.id, first.id, 'same image ID');
    assert.equal(second.digest, first.digest, 'same pushed manifest');
    assert.equal(await mountFile(b, 'wcache', 'from-a.txt'), 'lib v1\n');
    // The directory itself as the RUN made it on A (uid=1234,mode=0750).
    const st = await stat(cacheMountDir(b.root, 'wcache'));
    assert.deepEqual([st.uid, st.mode & 0o7777], [1234, 0o750]);
  });

  it('a changed source file re-runs exactly the steps that depend on it', async () => {
    const ctxC = await copyContext(ctxA, join(b.dir, 'changed'));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(ctxC, 'app.txt'), 'app v2\n');
    const fresh = await cliRoot('cache-c');
    try {
      const third = await buildW(fresh, ctxC, ['--cache-from', `type=registry,ref=${cacheRef}`]);
      assertOk(third, 'changed build');
      assert.deepEqual(ran(third.err), ['build', 'final'], third.err);
    } finally {
      await fresh.close();
    }
  });

  it('a push of a fully cached build downloads no layer and mounts every layer from the cache repository', async () => {
    // A proxy in front of the registry sees every request: it passes them all through.
    const proxy = await startFaultProxy(reg.host);
    const fresh = await cliRoot('cache-d');
    try {
      const ctxD = await copyContext(ctxA, join(fresh.dir, 'ctx'));
      const image = `${proxy.host}/w/mounted:1`;
      // type=registry: pushed only (--push also stores the image here, which needs its blobs).
      const r = await buildW(fresh, ctxD, [
        '-o',
        `type=registry,name=${image}`,
        '--cache-from',
        `${proxy.host}/w/cache`,
      ]);
      assertOk(r, 'push from cache');
      assert.deepEqual(ran(r.err), []);
      const mounts = proxy.seen.filter(
        (q) => q.method === 'POST' && q.url.startsWith('/v2/w/mounted/blobs/uploads/?mount='),
      );
      const finished = proxy.seen.filter(
        (q) => q.method === 'PUT' && q.url.startsWith('/v2/w/mounted/blobs/uploads/'),
      );
      const manifest = JSON.parse(
        spawnSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/w/mounted:1`], {
          encoding: 'utf8',
        }).stdout,
      );
      for (const l of manifest.layers)
        assert.ok(
          mounts.some(
            (q) =>
              q.url.includes(`mount=${encodeURIComponent(l.digest)}`) || q.url.includes(`mount=${l.digest}`),
          ),
          `layer ${l.digest} mounted: ${JSON.stringify(proxy.seen)}`,
        );
      // Nothing was downloaded either: a result only pushed is never unpacked.
      const layerGets = proxy.seen.filter(
        (q) =>
          q.method === 'GET' && manifest.layers.some((l: { digest: string }) => q.url.endsWith(l.digest)),
      );
      assert.deepEqual(layerGets, []);
      // Nor was a snapshot needed: the new root's snapshotter was never set up (no trial mount).
      assert.deepEqual(await readdir(join(fresh.root, 'snapshots')).catch(() => []), []);
      // Only the image config goes up (the cache artifact has a config of its own).
      assert.equal(finished.length, 1, JSON.stringify(finished));
      assert.ok(finished[0].url.includes(manifest.config.digest.slice(7)), finished[0].url);
    } finally {
      await fresh.close();
      await proxy.close();
    }
  });

  it('a fully cached build exporting mode=max carries every imported result forward', async () => {
    const fresh = await cliRoot('cache-e');
    try {
      const ctxE = await copyContext(ctxA, join(fresh.dir, 'ctx'));
      const again = `${reg.host}/w/cache-again`;
      const r = await buildW(fresh, ctxE, [
        '--cache-from',
        cacheRef,
        '--cache-to',
        `type=registry,ref=${again},mode=max`,
      ]);
      assertOk(r, 'cached build exporting');
      assert.deepEqual(ran(r.err), []);
      const keys = (ref: string) => {
        const c = spawnSync(
          'skopeo',
          ['inspect', '--tls-verify=false', '--config', '--raw', `docker://${ref}`],
          {
            encoding: 'utf8',
          },
        );
        assert.equal(c.status, 0, c.stderr);
        return JSON.parse(c.stdout)
          ['dev.kiln.cache.v1'].results.map((x: { key: string }) => x.key)
          .sort();
      };
      assert.deepEqual(keys(again), keys(cacheRef));
    } finally {
      await fresh.close();
    }
  });
});
