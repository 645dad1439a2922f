/**
 * A persistent cache of file content digests in SQLite, keyed by absolute path and validated
 * by size, mtime (ns), inode and mode, so a warm rebuild does not re-read an unchanged context.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Digest } from '../digest/digest.ts';

export interface FileIdentity {
  size: number;
  mtimeNs: bigint;
  ino: bigint;
  mode: number;
}

export class DigestCache {
  private readonly db: DatabaseSync;
  private readonly getStmt: StatementSync;
  private readonly putStmt: StatementSync;
  private inTx = false;
  private pending = 0;

  private constructor(db: DatabaseSync) {
    this.db = db;
    // Retried: concurrent builds opening a fresh database failed with "database is locked".
    execRetrying(db, 'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;', 5000);
    execRetrying(
      db,
      `BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS file_digest (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL,
        ino TEXT NOT NULL, mode INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID; COMMIT;`,
      5000,
    );
    this.getStmt = db.prepare('SELECT size, mtime_ns, ino, mode, digest FROM file_digest WHERE path = ?');
    this.putStmt = db.prepare(
      'INSERT OR REPLACE INTO file_digest (path, size, mtime_ns, ino, mode, digest) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  /** Open (creating if needed) the cache database at `file`. */
  static open(file: string): DigestCache {
    // Busy timeout from the start (not by PRAGMA after journal_mode = WAL): concurrent builds
    // opening a fresh database failed at once with "database is locked".
    return new DigestCache(new DatabaseSync(file, { timeout: 5000 }));
  }

  /** The cached digest when the file's identity is unchanged. */
  get(absPath: string, id: FileIdentity): Digest | undefined {
    const row = this.getStmt.get(absPath) as
      | { size: number; mtime_ns: string; ino: string; mode: number; digest: string }
      | undefined;
    if (!row) return undefined;
    if (
      row.size !== id.size ||
      row.mtime_ns !== id.mtimeNs.toString() ||
      row.ino !== id.ino.toString() ||
      row.mode !== id.mode
    ) {
      return undefined;
    }
    return row.digest as Digest;
  }

  put(absPath: string, id: FileIdentity, digest: Digest): void {
    if (!this.inTx) {
      this.db.exec('BEGIN');
      this.inTx = true;
    }
    this.putStmt.run(absPath, id.size, id.mtimeNs.toString(), id.ino.toString(), id.mode, digest);
    if (++this.pending >= 5000) this.flush();
  }

  /** Commit pending writes. */
  flush(): void {
    if (this.inTx) {
      this.db.exec('COMMIT');
      this.inTx = false;
      this.pending = 0;
    }
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

/** Set-up SQL retried while another process holds the database (see BuildCache's execRetrying). */
function execRetrying(db: DatabaseSync, sql: string, timeoutMs: number): void {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      db.exec(sql);
      return;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      if (!/locked|busy/i.test((err as Error).message) || Date.now() > until) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 20);
    }
  }
}
