import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sha256 } from '../digest/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { openStore } from '../store/store.ts';
import { analyseImage } from './layers.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-explain-layers-'));
const store = openStore(join(dir, 'root'));
after(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A layer tar (made by GNU tar) of `files`: path → size in bytes, or `wh` for an empty whiteout. */
async function layer(n: number, files: Record<string, number | 'wh'>) {
  const root = join(dir, `l${n}`);
  for (const [path, size] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), size === 'wh' ? '' : Buffer.alloc(size, n));
  }
  const tar = join(dir, `l${n}.tar`);
  execFileSync('tar', ['-cf', tar, '--sort=name', '-C', root, '.']);
  const bytes = readFileSync(tar);
  const info = await store.content.writeBlob(bytes);
  return {
    desc: { mediaType: MediaType.OciLayer, digest: info.digest, size: info.size },
    diffID: sha256(bytes),
  };
}

describe('layer analysis (as dive shows it)', () => {
  it('finds the largest files, and the bytes a layer overwrote or deleted below it', async () => {
    const layers = [
      await layer(1, {
        'app/big.bin': 9000,
        'app/small.txt': 10,
        'etc/conf': 300,
        'cache/a': 700,
        'cache/b': 800,
      }),
      await layer(2, {
        'app/big.bin': 9500,
        'app/.wh.small.txt': 'wh',
        'cache/.wh..wh..opq': 'wh',
        'cache/new': 5,
      }),
      await layer(3, { '.wh.etc': 'wh', 'new.txt': 42 }),
    ];
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
        history: [
          { created_by: 'ADD base' },
          { created_by: 'RUN rebuild' },
          { created_by: 'RUN rm -r /etc' },
        ],
      }),
    );
    const cfg = await store.content.writeBlob(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
        layers: layers.map((l) => l.desc),
      }),
    );
    const m = await store.content.writeBlob(manifest);
    const [view] = await analyseImage(store.content, m.digest);
    assert.equal(view.platform, 'linux/amd64');
    const [base, rebuild, rm] = view.layers;
    assert.deepEqual(base.largest.slice(0, 2), [
      { path: 'app/big.bin', size: 9000 },
      { path: 'cache/b', size: 800 },
    ]);
    assert.equal(base.wasted, 0);
    assert.equal(rebuild.createdBy, 'RUN rebuild');
    assert.deepEqual(rebuild.overwritten, [{ path: 'app/big.bin', size: 9000, layer: 0 }]);
    assert.deepEqual(
      rebuild.deleted.map((f) => f.path).sort(),
      ['app/small.txt', 'cache/a', 'cache/b'],
      'a whiteout and an opaque directory',
    );
    assert.equal(rebuild.wasted, 9000 + 10 + 700 + 800);
    assert.deepEqual(rm.deleted, [{ path: 'etc/conf', size: 300, layer: 0 }]);
    assert.equal(rm.wasted, 300);
    assert.equal(rm.contentBytes, 42);
  });
});
