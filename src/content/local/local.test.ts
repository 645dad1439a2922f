import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256 } from '../../digest/digest.ts';
import { contentStoreConformance } from '../../testing/content-suite.ts';
import { LocalContentStore } from './local.ts';
import { MetaDB } from './meta.ts';

contentStoreConformance('LocalContentStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
  const store = new LocalContentStore(dir);
  return {
    store,
    corrupt: async (d) => writeFile(store.blobPath(d), 'garbage'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

contentStoreConformance('LocalContentStore with metadata lease', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
  const meta = new MetaDB(join(dir, 'meta.db'));
  const lease = meta.createLease();
  const store = new LocalContentStore(dir, { meta }).withLease(lease.id);
  return {
    store,
    corrupt: async (d) => writeFile(store.blobPath(d), 'garbage'),
    cleanup: async () => {
      meta.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('LocalContentStore layout', () => {
  it('stores blobs at blobs/sha256/<hex> and leaves the ingest directory empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    try {
      const store = new LocalContentStore(dir);
      const data = Buffer.from('layout');
      await store.writeBlob(data);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [sha256(data).slice(7)]);
      assert.deepEqual(await readdir(join(dir, 'ingest')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a lease records every blob committed through it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    const meta = new MetaDB(join(dir, 'meta.db'));
    try {
      const lease = meta.createLease({ ttlMs: 60_000 });
      const store = new LocalContentStore(dir, { meta }).withLease(lease.id);
      const a = await store.writeBlob(Buffer.from('a'));
      assert.deepEqual(meta.liveLeaseBlobs(), [a.digest]);
      assert.deepEqual(meta.liveLeaseBlobs(Date.now() + 120_000), []);
    } finally {
      meta.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('cleanIngests removes temps of dead processes and keeps ours', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    try {
      const store = new LocalContentStore(dir);
      await store.writeBlob(Buffer.from('x'));
      // pid 2^22+1 is above Linux's pid_max limit, so no process can own it.
      await writeFile(join(dir, 'ingest', `${2 ** 22 + 1}-abcd.tmp`), 'half');
      await writeFile(join(dir, 'ingest', `${process.pid}-beef.tmp`), 'in progress');
      const removed = await store.cleanIngests();
      assert.deepEqual(
        removed.map((t) => t.name),
        [`${2 ** 22 + 1}-abcd.tmp`],
      );
      assert.deepEqual(await readdir(join(dir, 'ingest')), [`${process.pid}-beef.tmp`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
