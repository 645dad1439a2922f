/**
 * Content digests of the files of committed snapshots, by inode number, each valid while the
 * file is the inode it was hashed as, unchanged. A stage whose last step changed one file of
 * /app/node_modules is read again whole by the `COPY --from` that follows; every other file there
 * is the same inode of a lower layer as in the last build, and is not read again.
 *
 * Why the inode can be trusted where a path and mtime could not: kiln's snapshots all live on its
 * root's one filesystem, and an overlay view of them shows each file's own inode number and times
 * (all layers on one filesystem: overlayfs passes non-directories' st_ino and statx through); a
 * snapshot's input sets names, contents and mtimes, but no one sets a birth time or a ctime. An
 * inode number freed and reused is a new file with a new birth time (and ctime): a digest is kept
 * only for a file whose ctime (never before its birth or its last write) was already RACY_US old
 * when it was hashed, so a file made in the same clock tick as a cached one cannot take its row.
 *
 * The birth time, mtime and size are the key where the filesystem keeps birth times (ext4, xfs,
 * btrfs, tmpfs on Linux 6.x), not the ctime: a `COPY --from` hard-links a stage's files into its
 * layer (fileops/copy.ts linkInstead), and a link sets the file's ctime, so a ctime key made every
 * linked file a miss the next time the stage was read (W3's incremental build read all 2,548 files
 * of its node_modules again, ~0.1 s, after each build). A committed snapshot's file is never
 * written (a RUN writing to it gets overlayfs's copy-up, a new inode; a writable bind mount of a
 * stage writes to a throwaway upper dir), so what could change its content in place is not the
 * input; mtime and size would still show an ordinary write. Without birth times (statx returns
 * none): the ctime and size, as before.
 *
 * The view's device number is the mount's own (new each time): it is not part of the key.
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
  /** Birth time in whole microseconds; 0 where the filesystem keeps none. */
  btimeUs: number;
  /** mtime in whole microseconds. */
  mtimeUs: number;
  /** ctime in whole microseconds. */
  ctimeUs: number;
  size: number;
}

/** An identity's numbers from a stat (a walk's lstat, a descriptor's fstat). */
export function inodeIdentity(st: {
  ino: number;
  birthtimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  size: number;
}): InodeIdentity {
  return {
    ino: st.ino,
    btimeUs: st.birthtimeMs > 0 ? Math.round(st.birthtimeMs * 1000) : 0,
    mtimeUs: Math.round(st.mtimeMs * 1000),
    ctimeUs: Math.round(st.ctimeMs * 1000),
    size: st.size,
  };
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
      // number of inodes kiln's root has ever had hashed at once. (inode_digests, keyed by ctime
      // alone, was this table before birth times: dropped, its rows are re-taken as files are read.)
      const db = openDatabase(
        this.file,
        `DROP TABLE IF EXISTS inode_digests;
        CREATE TABLE IF NOT EXISTS inode_stamps (
          ino INTEGER PRIMARY KEY, btime_us INTEGER NOT NULL, mtime_us INTEGER NOT NULL,
          ctime_us INTEGER NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL)`,
        5000,
      );
      const get = db.prepare(
        'SELECT btime_us, mtime_us, ctime_us, size, digest FROM inode_stamps WHERE ino = ?',
      );
      get.setReturnArrays(true);
      const put = db.prepare(
        'INSERT OR REPLACE INTO inode_stamps (ino, btime_us, mtime_us, ctime_us, size, digest) VALUES (?, ?, ?, ?, ?, ?)',
      );
      this.opened = { db, get, put };
    }
    return this.opened;
  }

  /**
   * The digest kept for this inode, if it is still the file it was hashed as: the same birth time,
   * mtime and size (the same ctime and size where there is no birth time).
   */
  get(id: InodeIdentity): Digest | undefined {
    const row = this.sql.get.get(id.ino) as unknown as [number, number, number, number, string] | undefined;
    if (!row || row[3] !== id.size) return undefined;
    const same = id.btimeUs > 0 ? row[0] === id.btimeUs && row[1] === id.mtimeUs : row[2] === id.ctimeUs;
    return same ? (row[4] as Digest) : undefined;
  }

  /** Keep a digest, taken from the very file `id` was read from (its descriptor's fstat). */
  put(id: InodeIdentity, digest: Digest): void {
    if (Date.now() * 1000 - id.ctimeUs <= RACY_US) return;
    const sql = this.sql;
    if (this.pending === 0) sql.db.exec('BEGIN');
    sql.put.run(id.ino, id.btimeUs, id.mtimeUs, id.ctimeUs, id.size, digest);
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
