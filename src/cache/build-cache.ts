/**
 * The persistent build cache, in node:sqlite: instruction-cache results (cache key → the
 * filesystem state a vertex produced) and, per committed snapshot and compression, the layer
 * blob exported from it, so a warm build neither re-runs steps nor re-compresses layers; for
 * steps keyed by what they copy from another stage (COPY --from) and those built on them, the key
 * each cheap key leads to, and the checksums of what was read of committed snapshots (which never
 * change).
 * Entries are hints: callers check that the snapshots and blobs they name still exist.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../digest/digest.ts';
import { openDatabase } from '../sys/sqlite.ts';

export interface LayerRecord {
  digest: Digest;
  diffID: Digest;
  size: number;
  mediaType: string;
  /** Size of the uncompressed tar. */
  uncompressedSize?: number;
  /** When the step that made the layer ran (ISO); not stored, filled in per build. */
  created?: string;
}

/**
 * What the cache itself reads of a stored result: the snapshots an `fs` result is made of (the
 * worker's BuildState has this shape), so pruning and disk usage know what a result keeps.
 */
export type CachedResult = { kind: 'fs'; layers: { snapshot: string }[] } | { kind: 'dir' };

const USE_GRANULARITY_MS = 10 * 60_000;

export class BuildCache {
  private readonly db: DatabaseSync;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = openDatabase(
      file,
      `CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL, used INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS layers (snapshot TEXT NOT NULL, compression TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (snapshot, compression));
      CREATE TABLE IF NOT EXISTS links (key TEXT PRIMARY KEY, target TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS links_target ON links (target);
      CREATE TABLE IF NOT EXISTS sums (snapshot TEXT NOT NULL, what TEXT NOT NULL, sum TEXT NOT NULL,
        PRIMARY KEY (snapshot, what));
      CREATE TABLE IF NOT EXISTS members (snapshot TEXT NOT NULL, compression TEXT NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (snapshot, compression))`,
    );
  }

  /** Whether no instruction result is recorded at all (a fresh root, or one pruned to nothing). */
  hasNoResults(): boolean {
    return this.db.prepare('SELECT 1 FROM results LIMIT 1').get() === undefined;
  }

  getResult<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value, used FROM results WHERE key = ?').get(key) as
      | { value: string; used: number }
      | undefined;
    if (!row) return undefined;
    // The last-use time only ages results for prune (in hours): refreshing it at most every ten
    // minutes keeps a fully cached build from writing (and syncing) the database at all.
    const now = Date.now();
    if (now - row.used > USE_GRANULARITY_MS)
      this.db.prepare('UPDATE results SET used = ? WHERE key = ?').run(now, key);
    return JSON.parse(row.value) as T;
  }

  putResult(key: string, value: unknown): void {
    const now = Date.now();
    this.db
      .prepare(
        'INSERT INTO results (key, value, created, used) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, used = excluded.used',
      )
      .run(key, JSON.stringify(value), now, now);
  }

  /** Forget a result, and the cheap keys that led to it. */
  deleteResult(key: string): void {
    this.db.prepare('DELETE FROM results WHERE key = ?').run(key);
    this.db.prepare('DELETE FROM links WHERE target = ?').run(key);
  }

  /**
   * The key a step's result is stored under, by the step's cheap key: steps that copy from
   * another stage by content, or build on one (solver ContentInputs).
   */
  getLink(key: string): string | undefined {
    const row = this.db.prepare('SELECT target FROM links WHERE key = ?').get(key) as
      | { target: string }
      | undefined;
    return row?.target;
  }

  putLink(key: string, target: string): void {
    this.db.prepare('INSERT OR REPLACE INTO links (key, target) VALUES (?, ?)').run(key, target);
  }

  /** A checksum of what a copy read of a committed snapshot (`what` names the paths and options). */
  getSum(snapshot: string, what: string): string | undefined {
    const row = this.db.prepare('SELECT sum FROM sums WHERE snapshot = ? AND what = ?').get(snapshot, what) as
      | { sum: string }
      | undefined;
    return row?.sum;
  }

  putSum(snapshot: string, what: string, sum: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO sums (snapshot, what, sum) VALUES (?, ?, ?)')
      .run(snapshot, what, sum);
  }

  /** Every result, for pruning: which snapshots the cache still wants. */
  allResults<T>(): { key: string; value: T; used: number }[] {
    return (
      this.db.prepare('SELECT key, value, used FROM results').all() as {
        key: string;
        value: string;
        used: number;
      }[]
    ).map((r) => ({ key: r.key, value: JSON.parse(r.value) as T, used: r.used }));
  }

  getLayer(snapshot: string, compression: string): LayerRecord | undefined {
    const row = this.db
      .prepare('SELECT value FROM layers WHERE snapshot = ? AND compression = ?')
      .get(snapshot, compression) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as LayerRecord) : undefined;
  }

  putLayer(snapshot: string, compression: string, rec: LayerRecord): void {
    this.db
      .prepare('INSERT OR REPLACE INTO layers (snapshot, compression, value) VALUES (?, ?, ?)')
      .run(snapshot, compression, JSON.stringify(rec));
  }

  /** Where the snapshot's uncompressed layer blob holds its files (archive/layer-index.ts). */
  getMembers(snapshot: string, compression: string): Uint8Array | undefined {
    const row = this.db
      .prepare('SELECT data FROM members WHERE snapshot = ? AND compression = ?')
      .get(snapshot, compression) as { data: Uint8Array } | undefined;
    return row?.data;
  }

  putMembers(snapshot: string, compression: string, data: Uint8Array): void {
    this.db
      .prepare('INSERT OR REPLACE INTO members (snapshot, compression, data) VALUES (?, ?, ?)')
      .run(snapshot, compression, data);
  }

  /** Forget what the cache holds of a removed snapshot: its layers and checksums. */
  deleteLayers(snapshot: string): void {
    this.db.prepare('DELETE FROM layers WHERE snapshot = ?').run(snapshot);
    this.db.prepare('DELETE FROM members WHERE snapshot = ?').run(snapshot);
    this.db.prepare('DELETE FROM sums WHERE snapshot = ?').run(snapshot);
  }

  /** Every exported layer, for GC: blobs the cache refers to. */
  allLayers(): { snapshot: string; record: LayerRecord }[] {
    return (
      this.db.prepare('SELECT snapshot, value FROM layers').all() as { snapshot: string; value: string }[]
    ).map((r) => ({
      snapshot: r.snapshot,
      record: JSON.parse(r.value) as LayerRecord,
    }));
  }

  clear(): void {
    this.db.exec(
      'DELETE FROM results; DELETE FROM layers; DELETE FROM links; DELETE FROM sums; DELETE FROM members;',
    );
  }

  close(): void {
    this.db.close();
  }
}
