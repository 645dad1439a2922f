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

interface Row {
  size: number;
  mtime_ns: string;
  ino: string;
  mode: number;
  digest: string;
}

export class DigestCache {
  private readonly db: DatabaseSync;
  private readonly subtreeStmt: StatementSync;
  private readonly putStmt: StatementSync;
  private inTx = false;
  private pending = 0;
  /**
   * Rows of the directories read so far, by path. One query per subtree instead of one per file:
   * a point lookup cost ~7 µs, which on a 20,000-file context was a third of a warm build.
   */
  private readonly rows = new Map<string, Row>();
  private readonly loaded: string[] = [];

  private constructor(db: DatabaseSync) {
    this.db = db;
    this.subtreeStmt = db.prepare(
      'SELECT path, size, mtime_ns, ino, mode, digest FROM file_digest WHERE path > ? AND path < ?',
    );
    // Rows as arrays: half the cost of building an object per row.
    this.subtreeStmt.setReturnArrays(true);
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
    this.preload(absPath.slice(0, absPath.lastIndexOf('/') + 1));
    const row = this.rows.get(absPath);
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
    const row = {
      size: id.size,
      mtime_ns: id.mtimeNs.toString(),
      ino: id.ino.toString(),
      mode: id.mode,
      digest,
    };
    this.putStmt.run(absPath, row.size, row.mtime_ns, row.ino, row.mode, digest);
    this.rows.set(absPath, row);
    if (++this.pending >= 5000) this.flush();
  }

  /**
   * Read every row under `dir` (and its subdirectories) once, before a walk of it looks files
   * up; lookups outside every preloaded directory load their own directory's subtree.
   */
  preload(dir: string): void {
    if (!dir.endsWith('/')) dir += '/';
    if (this.loaded.some((p) => dir.startsWith(p))) return;
    // Paths under dir/ sort between "dir/" and "dir0" ('0' follows '/').
    for (const r of this.subtreeStmt.all(dir, `${dir.slice(0, -1)}0`)) {
      const [path, size, mtime_ns, ino, mode, digest] = r as unknown as [string, ...Row[keyof Row][]];
      if (!this.rows.has(path)) this.rows.set(path, { size, mtime_ns, ino, mode, digest } as Row);
    }
    this.loaded.push(dir);
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
