/**
 * The metadata database (node:sqlite at <root>/meta.db, WAL): image names → descriptors and
 * leases → blobs. `BEGIN IMMEDIATE` transactions double as the cross-process lock that keeps GC
 * from sweeping while another process commits a blob or sets a name.
 */
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../../digest/digest.ts';
import { diskFull, isDiskFull, KilnError } from '../../errors/errors.ts';
import type { Descriptor } from '../../oci/descriptor.ts';
import { openDatabase } from '../../sys/sqlite.ts';
import { isoTime } from '../../sys/time.ts';

export interface ImageRow {
  name: string;
  target: Descriptor;
  /**
   * The index `target` was picked from, when one platform of a multi-platform image was pulled:
   * the image's other platforms are found (and fetched, pinned) through it. GC keeps it.
   */
  index?: Descriptor;
  createdAt: string;
  updatedAt: string;
}

export interface Lease {
  id: string;
  createdAt: string;
  /** Epoch milliseconds after which the lease no longer protects anything; undefined = never. */
  expiresAt?: number;
  labels: Record<string, string>;
}

/** How often re-setting a name to the image it already names refreshes its tag time. */
export const RETAG_REFRESH_MS = 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  name TEXT PRIMARY KEY,
  descriptor TEXT NOT NULL,
  digest TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_digest ON images(digest);
CREATE TABLE IF NOT EXISTS image_indexes (
  name TEXT PRIMARY KEY REFERENCES images(name) ON DELETE CASCADE,
  descriptor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  expires_at INTEGER,
  labels TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS lease_blobs (
  lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  PRIMARY KEY (lease_id, digest)
);
`;

export class MetaDB {
  readonly path: string;
  readonly db: DatabaseSync;
  private depth = 0;
  /** This process's lazy leases (see createLease), and whether a blob may have written them. */
  private readonly lazyLeases = new Map<string, { lease: Lease; written: boolean }>();

  constructor(path: string, opts: { busyTimeoutMs?: number } = {}) {
    this.path = path;
    try {
      this.db = openDatabase(path, SCHEMA, opts.busyTimeoutMs ?? 30_000);
      this.db.exec('PRAGMA foreign_keys = ON;');
    } catch (cause) {
      if (isDiskFull(cause)) throw diskFull(dirname(path), cause);
      throw new KilnError(
        'STORE_DB_OPEN',
        `cannot open the metadata database ${path}: ${(cause as Error).message}`,
        {
          cause,
          hint: 'check that the state root is writable (see --root / KILN_ROOT)',
        },
      );
    }
  }

  /**
   * Run `fn` inside `BEGIN IMMEDIATE … COMMIT`: the write lock is taken up front, so whatever `fn`
   * does (including synchronous file renames or unlinks) is serialized against other processes.
   * Nested calls join the outer transaction.
   */
  transaction<T>(fn: () => T): T {
    if (this.depth > 0) {
      this.depth++;
      try {
        return fn();
      } finally {
        this.depth--;
      }
    }
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw isDiskFull(err) ? diskFull(dirname(this.path), err) : err;
    }
    this.depth = 1;
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      // SQLite rolls back by itself when a write finds the disk full; a second ROLLBACK then
      // failed with "cannot rollback - no transaction is active" and hid the real error.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw isDiskFull(err) ? diskFull(dirname(this.path), err) : err;
    } finally {
      this.depth = 0;
    }
  }

  // --- images ---

  getImage(name: string): ImageRow | undefined {
    const row = this.db.prepare(`${SELECT_IMAGES} WHERE name = ?`).get(name);
    return row ? toImageRow(row) : undefined;
  }

  /**
   * Point `name` at `target`. `index` records the index the target was picked from; without it,
   * a name that moves to another target forgets its index (one that stays keeps it).
   */
  putImage(name: string, target: Descriptor, now = new Date(), index?: Descriptor): ImageRow {
    const ts = isoTime(now);
    // Re-setting a name to the image it already names only refreshes its tag time (docker's
    // LastTagTime), and not within RETAG_REFRESH_MS of the last refresh: a fully cached build
    // then writes nothing, so it pays for no WAL, checkpoint or fsync.
    const current = this.getImage(name);
    if (
      current &&
      JSON.stringify(current.target) === JSON.stringify(target) &&
      (index === undefined || JSON.stringify(current.index) === JSON.stringify(index)) &&
      Math.abs(now.getTime() - Date.parse(current.updatedAt)) < RETAG_REFRESH_MS
    ) {
      return current;
    }
    return this.transaction(() => {
      const prev = this.getImage(name);
      // Re-pointing a name at a new image resets its creation time; re-setting the same one does not.
      const createdAt = prev && prev.target.digest === target.digest ? prev.createdAt : ts;
      this.db
        .prepare(
          `INSERT INTO images(name, descriptor, digest, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET descriptor = excluded.descriptor, digest = excluded.digest,
             created_at = excluded.created_at, updated_at = excluded.updated_at`,
        )
        .run(name, JSON.stringify(target), target.digest, createdAt, ts);
      let kept = index;
      if (index) {
        this.db
          .prepare(
            'INSERT INTO image_indexes(name, descriptor) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET descriptor = excluded.descriptor',
          )
          .run(name, JSON.stringify(index));
      } else if (prev && prev.target.digest !== target.digest) {
        this.db.prepare('DELETE FROM image_indexes WHERE name = ?').run(name);
      } else kept = prev?.index;
      const row: ImageRow = { name, target, createdAt, updatedAt: ts };
      if (kept) row.index = kept;
      return row;
    });
  }

  deleteImage(name: string): boolean {
    return this.transaction(() => {
      // Without the foreign key cascade (a connection that did not enable it), not left behind.
      this.db.prepare('DELETE FROM image_indexes WHERE name = ?').run(name);
      return Number(this.db.prepare('DELETE FROM images WHERE name = ?').run(name).changes) > 0;
    });
  }

  listImages(): ImageRow[] {
    return this.db.prepare(`${SELECT_IMAGES} ORDER BY name`).all().map(toImageRow);
  }

  imagesByDigest(digest: Digest): ImageRow[] {
    return this.db.prepare(`${SELECT_IMAGES} WHERE digest = ? ORDER BY name`).all(digest).map(toImageRow);
  }

  // --- leases ---

  /**
   * A lease protects the blobs added to it. A `lazy` lease is written only with its first blob:
   * until then it protects nothing, so no other process needs to see it, and a build that adds
   * no blob (everything cached) writes no lease at all.
   */
  createLease(
    opts: { id?: string; ttlMs?: number; labels?: Record<string, string>; lazy?: boolean } = {},
  ): Lease {
    const lease: Lease = {
      id: opts.id ?? randomUUID(),
      createdAt: isoTime(),
      expiresAt: opts.ttlMs === undefined ? undefined : Date.now() + opts.ttlMs,
      labels: opts.labels ?? {},
    };
    if (opts.lazy) this.lazyLeases.set(lease.id, { lease, written: false });
    else this.transaction(() => this.insertLease(lease));
    return lease;
  }

  private insertLease(lease: Lease): void {
    this.db
      .prepare('INSERT OR IGNORE INTO leases(id, created_at, expires_at, labels) VALUES (?, ?, ?, ?)')
      .run(lease.id, lease.createdAt, lease.expiresAt ?? null, JSON.stringify(lease.labels));
  }

  deleteLease(id: string): boolean {
    const lazy = this.lazyLeases.get(id);
    if (lazy) {
      this.lazyLeases.delete(id);
      if (!lazy.written) return true;
    }
    return this.transaction(
      () => Number(this.db.prepare('DELETE FROM leases WHERE id = ?').run(id).changes) > 0,
    );
  }

  /** Record that a lease holds a blob (idempotent). Throws LEASE_NOT_FOUND for an unknown lease. */
  addLeaseBlob(leaseId: string, digest: Digest): void {
    this.transaction(() => {
      const lazy = this.lazyLeases.get(leaseId);
      if (lazy) {
        // Written with every blob (OR IGNORE): an enclosing transaction may yet roll back.
        lazy.written = true;
        this.insertLease(lazy.lease);
      } else if (!this.db.prepare('SELECT 1 FROM leases WHERE id = ?').get(leaseId)) {
        throw new KilnError('LEASE_NOT_FOUND', `lease ${leaseId} does not exist (expired and collected?)`);
      }
      this.db
        .prepare('INSERT OR IGNORE INTO lease_blobs(lease_id, digest) VALUES (?, ?)')
        .run(leaseId, digest);
    });
  }

  listLeases(): Lease[] {
    return this.db
      .prepare('SELECT * FROM leases ORDER BY created_at')
      .all()
      .map((r) => ({
        id: String(r.id),
        createdAt: String(r.created_at),
        expiresAt: r.expires_at === null ? undefined : Number(r.expires_at),
        labels: JSON.parse(String(r.labels)) as Record<string, string>,
      }));
  }

  /** Digests held by leases that have not expired at `now`. */
  liveLeaseBlobs(now = Date.now()): Digest[] {
    return this.db
      .prepare(
        `SELECT DISTINCT b.digest FROM lease_blobs b JOIN leases l ON l.id = b.lease_id
         WHERE l.expires_at IS NULL OR l.expires_at > ?`,
      )
      .all(now)
      .map((r) => String(r.digest) as Digest);
  }

  /** Delete expired leases; returns how many. */
  deleteExpiredLeases(now = Date.now()): number {
    return this.transaction(() =>
      Number(
        this.db.prepare('DELETE FROM leases WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now)
          .changes,
      ),
    );
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

/** Image rows with the index each was picked from (when recorded). */
const SELECT_IMAGES =
  'SELECT images.*, image_indexes.descriptor AS index_descriptor FROM images LEFT JOIN image_indexes USING (name)';

function toImageRow(r: Record<string, unknown>): ImageRow {
  const row: ImageRow = {
    name: String(r.name),
    target: JSON.parse(String(r.descriptor)) as Descriptor,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
  if (typeof r.index_descriptor === 'string') row.index = JSON.parse(r.index_descriptor) as Descriptor;
  return row;
}

/** What an image row keeps from GC: its target, and the index it was picked from. */
export function imageRoots(rows: ImageRow[]): Descriptor[] {
  return rows.flatMap((r) => (r.index ? [r.target, r.index] : [r.target]));
}
