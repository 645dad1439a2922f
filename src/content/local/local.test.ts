import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { DigestStream, sha256 } from '../../digest/digest.ts';
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

/** The prototype of node:fs/promises' FileHandle (the store's), to watch its datasync. */
async function fileHandleClass(dir: string): Promise<{ datasync: () => Promise<void> }> {
  const probe = await open(join(dir, 'probe'), 'w');
  await probe.close();
  return Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
}

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

  it('a blob of a known size bigger than the free space fails with DISK_FULL and its size before a byte is read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    try {
      const store = new LocalContentStore(dir);
      const size = 2 ** 52;
      let read = false;
      const source = Readable.from(
        (function* () {
          read = true;
          yield Buffer.from('x');
        })(),
      );
      await assert.rejects(store.ingest(source, { size }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'DISK_FULL');
        assert.match(e.message, new RegExp(`of the state root ${dir} \\(${size} bytes were needed\\)`));
        return true;
      });
      assert.equal(read, false, 'the source was read');
      assert.deepEqual(await readdir(join(dir, 'ingest')), []);
      // A size that fits is written as ever.
      const data = Buffer.from('fits');
      assert.equal((await store.ingest(Readable.from([data]), { size: data.length })).size, 4);
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

  it('a multi-MiB ingest (a write in flight while the next batch is read) stores exact bytes; one failing midway leaves nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    try {
      const store = new LocalContentStore(dir);
      // 5 MiB in 64 KiB chunks, each different, as a download delivers them.
      const chunks = Array.from({ length: 80 }, (_, i) => Buffer.alloc(64 << 10, i));
      const whole = Buffer.concat(chunks);
      const info = await store.ingest(
        (async function* () {
          yield* chunks;
        })(),
        { digest: sha256(whole), size: whole.length },
      );
      assert.deepEqual(await readFile(store.blobPath(info.digest)), whole);
      const failing = async function* () {
        for (const [i, c] of chunks.entries()) {
          if (i === 50) throw new Error('connection reset');
          yield c;
        }
      };
      const other = Buffer.concat([whole, Buffer.from('!')]);
      await assert.rejects(
        store.ingest(failing(), { digest: sha256(other), size: other.length }),
        /connection reset/,
      );
      // A source longer than its descriptor fails as soon as it passes the size, writes in flight or not.
      await assert.rejects(
        store.ingest(
          (async function* () {
            yield* chunks;
          })(),
          { digest: sha256(other), size: 3 << 20 },
        ),
        { code: 'SIZE_MISMATCH' },
      );
      assert.deepEqual(await readdir(join(dir, 'ingest')), []);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [info.digest.slice(7)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a big blob is datasynced while it still comes; a failed datasync fails the ingest and leaves nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    // The store's FileHandle class, watched: each datasync records how much the source had given.
    const proto = await fileHandleClass(dir);
    const real = proto.datasync;
    let given = 0;
    const seen: number[] = [];
    let fail = false;
    proto.datasync = function (this: unknown) {
      seen.push(given);
      return fail
        ? Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
        : real.call(this);
    };
    try {
      const store = new LocalContentStore(dir);
      // 48 MiB in 1 MiB chunks, each different.
      const chunks = Array.from({ length: 48 }, (_, i) => Buffer.alloc(1 << 20, i));
      const whole = Buffer.concat(chunks);
      const source = async function* () {
        for (const c of chunks) {
          given += c.length;
          yield c;
        }
      };
      const info = await store.ingest(source(), { digest: sha256(whole), size: whole.length });
      assert.deepEqual(await readFile(store.blobPath(info.digest)), whole);
      // Started before the source ended (its bytes already written), not only at the end.
      assert.ok(seen.length >= 1, 'no datasync while the blob came');
      assert.ok(seen[0] < whole.length, `the first datasync came after all ${seen[0]} bytes`);
      // A write-back error reported to an early datasync is the ingest's error (the final fsync
      // on the same descriptor would not report it again).
      fail = true;
      given = 0;
      const other = Buffer.concat([whole, Buffer.from('!')]);
      chunks.push(Buffer.from('!'));
      await assert.rejects(store.ingest(source(), { digest: sha256(other), size: other.length }), {
        code: 'EIO',
      });
      assert.deepEqual(await readdir(join(dir, 'ingest')), []);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [info.digest.slice(7)]);
    } finally {
      proto.datasync = real;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ingests side by side run one early datasync at a time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    const proto = await fileHandleClass(dir);
    const real = proto.datasync;
    let running = 0;
    let most = 0;
    let calls = 0;
    // 50 ms each, long enough that the four ingests' datasyncs would overlap if each ran its own,
    // and no longer: the real one under a loaded disk took seconds, over which all four ingests
    // passed every mark while the first ran (a fresh-clone run saw one datasync). The final fsync
    // is not this call and still reaches the disk.
    proto.datasync = async () => {
      calls++;
      most = Math.max(most, ++running);
      try {
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        running--;
      }
    };
    try {
      const store = new LocalContentStore(dir);
      const blobs = Array.from({ length: 4 }, (_, k) =>
        Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 << 20, k * 40 + i)),
      );
      // Paced (~3 ms a MiB): each ingest crosses its 16 MiB marks after the first datasync has
      // ended, so more than one runs, whatever the machine's speed (a fresh-clone run that wrote
      // all 160 MiB within the first one's 50 ms saw one only).
      const source = async function* (chunks: Buffer[]) {
        for (const c of chunks) {
          await new Promise((r) => setTimeout(r, 3));
          yield c;
        }
      };
      const infos = await Promise.all(
        blobs.map((chunks) => {
          const whole = Buffer.concat(chunks);
          return store.ingest(source(chunks), { digest: sha256(whole), size: whole.length });
        }),
      );
      assert.equal(infos.length, 4);
      assert.ok(calls >= 2, `only ${calls} early datasyncs`);
      assert.equal(most, 1, `${most} early datasyncs ran at once`);
    } finally {
      proto.datasync = real;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a DigestStream source is named by its own digest (not hashed twice); one also read elsewhere is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
    try {
      const store = new LocalContentStore(dir);
      const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 << 10, i));
      const whole = Buffer.concat(chunks);
      const piped = new DigestStream();
      Readable.from(chunks).pipe(piped);
      const info = await store.ingest(piped, { digest: sha256(whole), size: whole.length });
      assert.equal(info.digest, sha256(whole));
      assert.equal(info.size, whole.length);
      assert.deepEqual(await readFile(store.blobPath(info.digest)), whole);
      // Its digest is what names the blob: a stream whose digest is not of the bytes it gave
      // would be caught only here, so it must be the bytes the store read, all of them.
      const shared = new DigestStream();
      Readable.from(chunks).pipe(shared);
      await once(shared, 'readable');
      const first = shared.read(); // someone else took a chunk before the store did
      assert.ok(first);
      await assert.rejects(store.ingest(shared), { code: 'DIGEST_STREAM_SHARED' });
      assert.deepEqual(await readdir(join(dir, 'ingest')), []);
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [info.digest.slice(7)]);
    } finally {
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
