import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256 } from '../../digest/digest.ts';
import { imageRoots, MetaDB, RETAG_REFRESH_MS } from './meta.ts';

/** Run `fn` with one connection per option set to a fresh meta.db; all closed and removed after. */
async function withMeta(opts: { busyTimeoutMs?: number }[], fn: (...dbs: MetaDB[]) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-meta-'));
  const dbs = opts.map((o) => new MetaDB(join(dir, 'meta.db'), o));
  try {
    fn(...dbs);
  } finally {
    for (const db of dbs) db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('metadata database', () => {
  it("a name keeps the index it was pulled from until it moves to another image or goes; GC's roots include it", () =>
    withMeta([{}], (db) => {
      const desc = (s: string, mediaType = 'application/vnd.oci.image.manifest.v1+json') => ({
        mediaType,
        digest: sha256(s),
        size: 1,
      });
      const index = desc('i', 'application/vnd.oci.image.index.v1+json');
      const name = 'docker.io/library/x:1';
      db.putImage(name, desc('arm64'), new Date(), index);
      assert.deepEqual(db.getImage(name)?.index, index);
      assert.deepEqual(imageRoots(db.listImages()), [desc('arm64'), index]);
      // Re-set to the same image without an index (a tag refresh): kept.
      db.putImage(name, desc('arm64'), new Date(Date.now() + RETAG_REFRESH_MS * 2));
      assert.deepEqual(db.getImage(name)?.index, index);
      // Moved to another image: the index no longer says where this one came from.
      db.putImage(name, desc('built'));
      assert.equal(db.getImage(name)?.index, undefined);
      db.putImage(name, desc('arm64'), new Date(), index);
      db.deleteImage(name);
      db.putImage(name, desc('arm64'));
      assert.equal(db.getImage(name)?.index, undefined, 'a name removed and set again has no index');
    }));

  it('BEGIN IMMEDIATE locks writers in other connections until the holder commits', () =>
    withMeta([{}, { busyTimeoutMs: 50 }], (a, b) => {
      const target = {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256('m'),
        size: 1,
      };
      a.transaction(() => {
        a.putImage('docker.io/library/x:1', target);
        assert.throws(() => b.putImage('docker.io/library/y:1', target), /locked|busy/i);
      });
      b.putImage('docker.io/library/y:1', target);
      assert.deepEqual(
        a.listImages().map((r) => r.name),
        ['docker.io/library/x:1', 'docker.io/library/y:1'],
      );
    }));

  it('a failed transaction rolls back', () =>
    withMeta([{}], (db) => {
      const target = { mediaType: 'x', digest: sha256('m'), size: 1 };
      assert.throws(() =>
        db.transaction(() => {
          db.putImage('docker.io/library/x:1', target);
          throw new Error('boom');
        }),
      );
      assert.deepEqual(db.listImages(), []);
    }));

  it('re-pointing a name resets its creation time; re-setting the same target keeps it', () =>
    withMeta([{}], (db) => {
      const t1 = { mediaType: 'x', digest: sha256('1'), size: 1 };
      const first = db.putImage('n', t1, new Date('2020-01-01T00:00:00Z'));
      const again = db.putImage('n', t1, new Date('2021-01-01T00:00:00Z'));
      assert.equal(again.createdAt, first.createdAt);
      const moved = db.putImage('n', { ...t1, digest: sha256('2') }, new Date('2022-01-01T00:00:00Z'));
      assert.equal(moved.createdAt, '2022-01-01T00:00:00.000Z');
    }));

  it('re-setting a name to the same image refreshes its tag time at most once per window', () =>
    withMeta([{}], (db) => {
      const t1 = { mediaType: 'x', digest: sha256('1'), size: 1 };
      const t0 = Date.parse('2024-01-01T00:00:00Z');
      db.putImage('n', t1, new Date(t0));
      const changes = () => Number(db.db.prepare('SELECT total_changes() AS n').get()!.n);
      const before = changes();
      assert.equal(
        db.putImage('n', t1, new Date(t0 + RETAG_REFRESH_MS - 1)).updatedAt,
        '2024-01-01T00:00:00.000Z',
      );
      assert.equal(changes(), before, 'a re-tag within the window writes nothing');
      const later = new Date(t0 + RETAG_REFRESH_MS);
      assert.equal(db.putImage('n', t1, later).updatedAt, later.toISOString());
      const moved = new Date(t0 + RETAG_REFRESH_MS + 1);
      assert.equal(db.putImage('n', { ...t1, digest: sha256('2') }, moved).updatedAt, moved.toISOString());
    }));

  it('a lazy lease is written with its first blob, and one without blobs never', () =>
    withMeta([{}, {}], (a, b) => {
      const empty = a.createLease({ ttlMs: 60_000, lazy: true });
      const held = a.createLease({ ttlMs: 60_000, lazy: true });
      assert.deepEqual(b.listLeases(), []);
      a.addLeaseBlob(held.id, sha256('blob'));
      assert.deepEqual(
        b.listLeases().map((l) => l.id),
        [held.id],
      );
      assert.deepEqual(b.liveLeaseBlobs(), [sha256('blob')]);
      assert.equal(a.deleteLease(empty.id), true);
      assert.equal(a.deleteLease(held.id), true);
      assert.deepEqual(b.listLeases(), []);
      assert.deepEqual(b.liveLeaseBlobs(), []);
      const c = a.createLease({ lazy: true });
      a.deleteLease(c.id);
      assert.throws(() => a.addLeaseBlob(c.id, sha256('x')), { code: 'LEASE_NOT_FOUND' });
    }));
});
