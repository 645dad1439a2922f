/**
 * Content digests of the files of committed snapshots, by inode number, each valid while the
 * file's ctime and size are those it was hashed at. A stage whose last step changed one file of
 * /app/node_modules is read again whole by the `COPY --from` that follows; every other file there
 * is the same inode of a lower layer as in the last build, and is not read again.
 *
 * Why the inode and ctime can be trusted where a path and mtime could not: kiln's snapshots all
 * live on its root's one filesystem, and an overlay view of them shows each file's own inode
 * number and times (all layers on one filesystem: overlayfs passes non-directories' st_ino
 * through); a snapshot's input sets names, contents and mtimes, but no one sets a ctime, which
 * any write, chmod, chown or link changes. An inode number freed and reused is a new file with
 * a new ctime: a digest is kept only for a file whose ctime was already RACY_US old when it was
 * hashed, so a file made in the same clock tick as a cached one cannot take its row. The view's
 * device number is the mount's own (new each time): it is not part of the key.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Digest } from '../digest/digest.ts';
import { openDatabase } from '../sys/sqlite.ts';

/**
 * Files changed this recently are not cached, here or by path (checksum.ts): a change in the same
 * clock tick would go unseen (mtime and ctime have the tick's resolution).
 */
export const RACY_US = 100_000;

export interface InodeIdentity {
  ino: number;
  /** ctime in whole microseconds. */
  ctimeUs: number;
  size: number;
}

interface Sql {
  db: DatabaseSync;
  get: StatementSync;
  put: StatementSync;
}

/** Rows written before a commit (one transaction per walk, or per this many rows). */
const BATCH = 5000;

export class InodeDigests {
  private readonly file: string;
  private opened?: Sql;
  private pending = 0;

  private constructor(file: string) {
    this.file = file;
  }

  /**
   * The database at `file` (its own, not the context cache's: a context walk that failed keeps
   * that one's transaction open until the build ends), opened and created on first use.
   */
  static open(file: string): InodeDigests {
    return new InodeDigests(file);
  }

  private get sql(): Sql {
    if (!this.opened) {
      // One row an inode: a reused number replaces its old row, so the table is bounded by the
      // number of inodes kiln's root has ever had hashed at once.
      const db = openDatabase(
        this.file,
        `CREATE TABLE IF NOT EXISTS inode_digests (
          ino INTEGER PRIMARY KEY, ctime_us INTEGER NOT NULL, size INTEGER NOT NULL,
          digest TEXT NOT NULL)`,
        5000,
      );
      const get = db.prepare('SELECT ctime_us, size, digest FROM inode_digests WHERE ino = ?');
      get.setReturnArrays(true);
      const put = db.prepare(
        'INSERT OR REPLACE INTO inode_digests (ino, ctime_us, size, digest) VALUES (?, ?, ?, ?)',
      );
      this.opened = { db, get, put };
    }
    return this.opened;
  }

  /** The digest kept for this inode, if its ctime and size are still those it was hashed at. */
  get(id: InodeIdentity): Digest | undefined {
    const row = this.sql.get.get(id.ino) as unknown as [number, number, string] | undefined;
    if (!row || row[0] !== id.ctimeUs || row[1] !== id.size) return undefined;
    return row[2] as Digest;
  }

  /** Keep a digest, taken from the very file `id` was read from (its descriptor's fstat). */
  put(id: InodeIdentity, digest: Digest): void {
    if (Date.now() * 1000 - id.ctimeUs <= RACY_US) return;
    const sql = this.sql;
    if (this.pending === 0) sql.db.exec('BEGIN');
    sql.put.run(id.ino, id.ctimeUs, id.size, digest);
    if (++this.pending >= BATCH) this.flush();
  }

  /** Commit what was put. */
  flush(): void {
    if (this.pending === 0 || !this.opened) return;
    this.pending = 0;
    this.opened.db.exec('COMMIT');
  }

  close(): void {
    this.flush();
    this.opened?.db.close();
    this.opened = undefined;
  }
}
