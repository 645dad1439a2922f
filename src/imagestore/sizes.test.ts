import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import type { Descriptor } from '../oci/descriptor.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { openStore, type Store } from '../store/store.ts';
import { LayerSizes } from './sizes.ts';

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sizes-'));
  const store = openStore(dir);
  try {
    await fn(store);
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function put(store: Store, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const info = await store.content.ingest(Readable.from([bytes]));
  return { mediaType, digest: info.digest, size: info.size };
}

describe('uncompressed layer sizes', () => {
  it('an uncompressed layer is its blob size; a gzip layer is measured once and remembered', async () => {
    await withStore(async (store) => {
      const raw = Buffer.alloc(300_000, 'a');
      const plain = await put(store, raw, MediaType.OciLayer);
      const gz = await put(store, gzipSync(raw), MediaType.OciLayerGzip);
      const sizes = new LayerSizes(store.content, store.meta);
      assert.equal(await sizes.layer(plain), 300_000);
      assert.equal(await sizes.layer(gz), 300_000);
      assert.equal(await sizes.total([plain, gz, gz]), 600_000);
      const row = store.meta.db.prepare('SELECT size FROM layer_sizes WHERE digest = ?').get(gz.digest) as {
        size: number;
      };
      assert.equal(Number(row.size), 300_000);
      // The same image is always the same size: a second reader takes the recorded size.
      assert.equal(await new LayerSizes(store.content, store.meta).layer(gz), 300_000);
    });
  });

  it('a layer that is not stored counts 0; one that inflates past the ratio stops there', async () => {
    await withStore(async (store) => {
      const sizes = new LayerSizes(store.content, store.meta, { maxRatio: 10 });
      assert.equal(
        await sizes.layer({ mediaType: MediaType.OciLayerGzip, digest: `sha256:${'0'.repeat(64)}`, size: 5 }),
        0,
      );
      // 40 MB of zeros in a few kB of zstd: measuring stops at 10 × 1 MiB, not at 40 MB.
      const bomb = await put(
        store,
        zstdCompressSync(Buffer.alloc(40 << 20)),
        'application/vnd.oci.image.layer.v1.tar+zstd',
      );
      assert.ok(bomb.size < 1 << 20, `compressed: ${bomb.size}`);
      assert.equal(await sizes.layer(bomb), 10 << 20);
    });
  });
});
