/**
 * A persistent cache of file content digests in SQLite, keyed by absolute path and validated
 * by size, mtime (µs), inode and mode, so a warm rebuild does not re-read an unchanged context.
 * Paths with a name that is not UTF-8 are not cached: SQLite text would turn their bytes into
 * U+FFFD, so two such files could share a key (they are hashed on every build instead).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Digest } from '../digest/digest.ts';
import { hasEscape } from '../sys/fsname.ts';
import { openDatabase } from '../sys/sqlite.ts';

export interface FileIdentity {
  size: number;
  /** mtime in microseconds. */
  mtimeUs: number;
  ino: number;
  mode: number;
}

/** A row as SQLite returns it: [path, size, mtime µs, inode, mode, digest]. */
type Row = [string, number, number, number, number, string];

/** The open database and its two statements. */
interface Sql {
  db: DatabaseSync;
  subtree: StatementSync;
  put: StatementSync;
}

/** Rows kept past a walk (~350 bytes each): see DigestCache.release. */
const RELEASE_ABOVE = 50_000;

export class DigestCache {
  private readonly file: string;
  private opened?: Sql;
  private inTx = false;
  private pending = 0;
  /**
   * Rows of the directories read so far, by path, kept as SQLite returns them (arrays of numbers:
   * no object per row). One query per subtree instead of one per file: a point lookup cost ~7 µs,
   * which on a 20,000-file context was a third of a warm build.
   */
  private readonly rows = new Map<string, Row>();
  private readonly loaded: string[] = [];

  private constructor(file: string) {
    this.file = file;
  }

  /** The cache database at `file`, opened (and created if needed) on first use. */
  static open(file: string): DigestCache {
    return new DigestCache(file);
  }

  /** A build that reads no context file never opens the database. */
  private get sql(): Sql {
    if (!this.opened) {
      const db = openDatabase(
        this.file,
        `CREATE TABLE IF NOT EXISTS file_digests (
          path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_us INTEGER NOT NULL,
          ino INTEGER NOT NULL, mode INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID;
         DROP TABLE IF EXISTS file_digest`,
        5000,
      );
      const subtree = db.prepare(
        'SELECT path, size, mtime_us, ino, mode, digest FROM file_digests WHERE path > ? AND path < ?',
      );
      subtree.setReturnArrays(true);
      const put = db.prepare(
        'INSERT OR REPLACE INTO file_digests (path, size, mtime_us, ino, mode, digest) VALUES (?, ?, ?, ?, ?, ?)',
      );
      this.opened = { db, subtree, put };
    }
    return this.opened;
  }

  /** The cached digest when the file's identity is unchanged. */
  get(absPath: string, id: FileIdentity): Digest | undefined {
    if (hasEscape(absPath)) return undefined;
    this.preload(absPath.slice(0, absPath.lastIndexOf('/') + 1));
    const row = this.rows.get(absPath);
    if (!row || row[1] !== id.size || row[2] !== id.mtimeUs || row[3] !== id.ino || row[4] !== id.mode) {
      return undefined;
    }
    return row[5] as Digest;
  }

  put(absPath: string, id: FileIdentity, digest: Digest): void {
    if (hasEscape(absPath)) return;
    const sql = this.sql;
    if (!this.inTx) {
      sql.db.exec('BEGIN');
      this.inTx = true;
    }
    const row: Row = [absPath, id.size, id.mtimeUs, id.ino, id.mode, digest];
    sql.put.run(...row);
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
    for (const r of this.sql.subtree.all(dir, `${dir.slice(0, -1)}0`) as unknown as Row[]) {
      if (!this.rows.has(r[0])) this.rows.set(r[0], r);
    }
    this.loaded.push(dir);
  }

  /**
   * A walk is over: forget the rows read so far when there are many. On a 200,000-file context
   * they are ~70 MiB that would otherwise stay for the whole build, through the COPY and the
   * layer write that follow; a smaller set stays, as a Dockerfile's next COPY from the same
   * context (package.json, then `.`) would read it again. `force` drops them whatever their number.
   */
  release(force = false): void {
    if (!force && this.rows.size <= RELEASE_ABOVE) return;
    this.rows.clear();
    this.loaded.length = 0;
  }

  /** Commit pending writes. */
  flush(): void {
    if (this.inTx) {
      this.sql.db.exec('COMMIT');
      this.inTx = false;
      this.pending = 0;
    }
  }

  close(): void {
    this.flush();
    this.opened?.db.close();
  }
}
