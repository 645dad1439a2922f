/**
 * `--cache-to type=local` / `--cache-from type=local`: the cache as an OCI layout directory.
 * Root A exports W's cache (mode=max, cache mounts) to a directory; root B, with the context
 * elsewhere, imports it and runs no RUN step, gets the same image ID and A's cache-mount files.
 * Concurrent exports to one directory under different tags keep both tags and a valid layout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOk, buildW, type CliRoot, cliRoot, copyContext, mountFile, ran, W } from './helpers.ts';

const FILES = { ...W, 'lib.txt': 'lib local\n', 'app.txt': 'app local\n' };

let a: CliRoot;
let b: CliRoot;
before(async () => {
  [a, b] = await Promise.all([cliRoot('cache-la'), cliRoot('cache-lb')]);
});
after(async () => {
  await a.close();
  await b.close();
});

describe('local cache directory between two machines', () => {
  it('root B imports what root A exported: no RUN runs, same image, cache mount restored', async () => {
    const ctxA = await a.context(FILES);
    const dir = join(a.dir, 'cache-dir');
    const first = await buildW(a, ctxA, ['--cache-to', `type=local,dest=${dir},mode=max,cache-mounts=true`]);
    assertOk(first, 'root A');
    assert.deepEqual(ran(first.err), ['build', 'deps', 'final']);
    assert.match(first.err, /exporting cache to client directory/);
    // A valid layout skopeo reads.
    const inspect = spawnSync('skopeo', ['inspect', `oci:${dir}:latest`], { encoding: 'utf8' });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout).Labels['dev.kiln.cache.version'], '1');

    const ctxB = await copyContext(ctxA, join(b.dir, 'other', 'place'));
    const second = await buildW(b, ctxB, ['--cache-from', `type=local,src=${dir}`]);
    assertOk(second, 'root B');
    assert.deepEqual(ran(second.err), [], second.err);
    assert.equal(second.id, first.id);
    assert.equal(await mountFile(b, 'wcache', 'from-a.txt'), 'lib local\n');

    // An archive output of a hit reads the layers it needs from the cache as it writes them.
    const c = await cliRoot('cache-lc');
    try {
      const tar = join(c.dir, 'w.tar');
      const third = await buildW(c, ctxB, [
        '--cache-from',
        `type=local,src=${dir}`,
        '-o',
        `type=oci,dest=${tar}`,
      ]);
      assertOk(third, 'archive from cache');
      assert.deepEqual(ran(third.err), []);
      const r = spawnSync('skopeo', ['inspect', `oci-archive:${tar}`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).Layers.length, 3);
    } finally {
      await c.close();
    }
  });

  it('image-manifest=false, oci-mediatypes=false and zstd write a cache another root imports', async () => {
    const ctx = await a.context({ ...FILES, 'app.txt': 'app legacy\n' });
    const dir = join(a.dir, 'legacy-dir');
    const spec = `type=local,dest=${dir},mode=max,image-manifest=false,oci-mediatypes=false,compression=gzip`;
    const first = await buildW(a, ctx, ['--cache-to', spec]);
    assertOk(first, 'export');
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const zdir = join(a.dir, 'zstd-dir');
    assertOk(
      await buildW(a, ctx, ['--cache-to', `type=local,dest=${zdir},mode=max,compression=zstd`]),
      'zstd',
    );
    for (const d of [dir, zdir]) {
      const c = await cliRoot('cache-ld');
      try {
        const r = await buildW(c, ctx, ['--cache-from', `type=local,src=${d}`]);
        assertOk(r, `import ${d}`);
        assert.deepEqual(ran(r.err), [], r.err);
        assert.equal(r.id, first.id);
      } finally {
        await c.close();
      }
    }
  });

  it('two builds exporting to one directory at once keep both tags', async () => {
    const dir = join(a.dir, 'shared-dir');
    const ctx1 = await a.context({ ...FILES, 'app.txt': 'one\n' });
    const ctx2 = await a.context({ ...FILES, 'app.txt': 'two\n' });
    const { spawn } = await import('node:child_process');
    const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');
    const run = (ctx: string, tag: string) =>
      new Promise<string>((resolve) => {
        const p = spawn(KILN, ['build', '-q', '--cache-to', `type=local,dest=${dir},tag=${tag}`, ctx], {
          env: { ...process.env, KILN_ROOT: a.root },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        p.stderr.on('data', (d) => {
          err += d;
        });
        p.on('close', (code) => resolve(`exit ${code}${code === 0 ? '' : `: ${err}`}`));
      });
    assert.deepEqual(await Promise.all([run(ctx1, 'one'), run(ctx2, 'two')]), ['exit 0', 'exit 0']);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const names = index.manifests.map(
      (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
    );
    assert.deepEqual(names.sort(), ['one', 'two']);
    for (const tag of ['one', 'two']) {
      const r = spawnSync('skopeo', ['inspect', `oci:${dir}:${tag}`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });
});
