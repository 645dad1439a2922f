/**
 * A persistent cache of file content digests in SQLite, keyed by absolute path and validated
 * by size, mtime (ns), inode and mode, so a warm rebuild does not re-read an unchanged context.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Digest } from '../digest/digest.ts';
import { openDatabase } from '../store/sqlite.ts';

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
    this.getStmt = db.prepare('SELECT size, mtime_ns, ino, mode, digest FROM file_digest WHERE path = ?');
    this.putStmt = db.prepare(
      'INSERT OR REPLACE INTO file_digest (path, size, mtime_ns, ino, mode, digest) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  /** Open (creating if needed) the cache database at `file`. */
  static open(file: string): DigestCache {
    return new DigestCache(
      openDatabase(
        file,
        `CREATE TABLE IF NOT EXISTS file_digest (
          path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL,
          ino TEXT NOT NULL, mode INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID`,
        5000,
      ),
    );
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
