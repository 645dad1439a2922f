/**
 * The content store conformance suite (containerd's content testsuite, in node:test form): every
 * ContentStore implementation runs it with a factory that hands out a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { ContentStore } from '../content/content.ts';
import { type Digest, sha256 } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';

export interface ContentStoreHarness {
  store: ContentStore;
  /** Overwrite a stored blob's bytes in place (to prove readBlob verifies); optional. */
  corrupt?: (digest: Digest) => Promise<void>;
  cleanup(): Promise<void>;
}

async function drain(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export function contentStoreConformance(name: string, factory: () => Promise<ContentStoreHarness>): void {
  const withStore = (fn: (h: ContentStoreHarness) => Promise<void>) => async () => {
    const h = await factory();
    try {
      await fn(h);
    } finally {
      await h.cleanup();
    }
  };

  describe(`content store conformance: ${name}`, () => {
    it(
      'a streamed blob reads back byte for byte under its sha256 digest',
      withStore(async ({ store }) => {
        const data = randomBytes(300_000);
        const info = await store.ingest(chunked(data, 7_777));
        assert.deepEqual(info, { digest: sha256(data), size: data.length });
        assert.deepEqual(await store.info(info.digest), info);
        assert.ok((await drain(await store.openRead(info.digest))).equals(data));
        assert.ok((await store.readBlob(info.digest)).equals(data));
      }),
    );

    it(
      'an async iterable of Uint8Array chunks is accepted',
      withStore(async ({ store }) => {
        async function* gen() {
          yield new Uint8Array([1, 2, 3]);
          yield new Uint8Array([4]);
        }
        const info = await store.ingest(gen(), { size: 4 });
        assert.equal(info.digest, sha256(Buffer.from([1, 2, 3, 4])));
      }),
    );

    it(
      'writeBlob with the right expected digest and size succeeds',
      withStore(async ({ store }) => {
        const data = Buffer.from('{"hello":"world"}');
        const info = await store.writeBlob(data, { digest: sha256(data), size: data.length });
        assert.equal(info.digest, sha256(data));
      }),
    );

    it(
      'a digest mismatch is rejected and leaves nothing under either name',
      withStore(async ({ store }) => {
        const data = Buffer.from('actual content');
        const claimed = sha256('something else');
        await assert.rejects(store.writeBlob(data, { digest: claimed }), (e) =>
          hasCode(e, 'DIGEST_MISMATCH'),
        );
        assert.equal(await store.info(claimed), undefined);
        assert.equal(await store.info(sha256(data)), undefined);
        assert.deepEqual(await all(store.list()), []);
      }),
    );

    it(
      'a stream longer or shorter than the expected size is rejected',
      withStore(async ({ store }) => {
        const data = randomBytes(10_000);
        await assert.rejects(store.ingest(chunked(data, 1000), { size: 9_999 }), (e) =>
          hasCode(e, 'SIZE_MISMATCH'),
        );
        await assert.rejects(store.ingest(chunked(data, 1000), { size: 10_001 }), (e) =>
          hasCode(e, 'SIZE_MISMATCH'),
        );
        assert.equal(await store.info(sha256(data)), undefined);
      }),
    );

    it(
      'a source stream that fails mid-way leaves no blob',
      withStore(async ({ store }) => {
        async function* failing() {
          yield Buffer.alloc(1000, 1);
          throw new Error('network went away');
        }
        await assert.rejects(store.ingest(failing()), /network went away/);
        assert.deepEqual(await all(store.list()), []);
      }),
    );

    it(
      'writing a blob that already exists is a normal outcome',
      withStore(async ({ store }) => {
        const data = Buffer.from('same bytes twice');
        const a = await store.writeBlob(data);
        const b = await store.writeBlob(data, { digest: a.digest, size: a.size });
        assert.deepEqual(a, b);
        assert.equal((await all(store.list())).length, 1);
      }),
    );

    it(
      'concurrent writers of the same blob all succeed and leave one intact blob',
      withStore(async ({ store }) => {
        const data = randomBytes(1_000_000);
        const results = await Promise.all(
          Array.from({ length: 8 }, () => store.ingest(chunked(data, 65_536), { digest: sha256(data) })),
        );
        for (const r of results) assert.equal(r.digest, sha256(data));
        assert.ok((await store.readBlob(sha256(data))).equals(data));
        assert.deepEqual(await all(store.list()), [{ digest: sha256(data), size: data.length }]);
      }),
    );

    it(
      'absent blobs: info is undefined, openRead and readBlob throw BLOB_NOT_FOUND',
      withStore(async ({ store }) => {
        const d = sha256('never written');
        assert.equal(await store.info(d), undefined);
        await assert.rejects(store.openRead(d), (e) => hasCode(e, 'BLOB_NOT_FOUND'));
        await assert.rejects(store.readBlob(d), (e) => hasCode(e, 'BLOB_NOT_FOUND'));
      }),
    );

    it(
      'delete removes a blob once and reports whether it existed',
      withStore(async ({ store }) => {
        const { digest } = await store.writeBlob(Buffer.from('to delete'));
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.delete(digest), false);
        assert.equal(await store.info(digest), undefined);
      }),
    );

    it(
      'list yields every stored blob with its size',
      withStore(async ({ store }) => {
        const blobs = [Buffer.from('a'), Buffer.from('bb'), Buffer.from('ccc')];
        for (const b of blobs) await store.writeBlob(b);
        const listed = (await all(store.list())).sort((x, y) => x.size - y.size);
        assert.deepEqual(
          listed,
          blobs.map((b) => ({ digest: sha256(b), size: b.length })),
        );
      }),
    );

    it(
      'readBlob refuses a blob whose bytes no longer match its digest',
      withStore(async ({ store, corrupt }) => {
        assert.ok(corrupt, 'the harness must provide corrupt() to check read verification');
        const { digest } = await store.writeBlob(Buffer.from('{"config":true}'));
        await corrupt(digest);
        await assert.rejects(store.readBlob(digest), (e) => hasCode(e, 'BLOB_CORRUPT'));
      }),
    );

    it(
      'an invalid expected digest is rejected before anything is written',
      withStore(async ({ store }) => {
        await assert.rejects(store.writeBlob(Buffer.from('x'), { digest: 'sha256:xyz' as Digest }), (e) =>
          hasCode(e, 'INVALID_DIGEST'),
        );
      }),
    );
  });
}
