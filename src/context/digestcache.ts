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

/** The open database and its statements. */
interface Sql {
  db: DatabaseSync;
  subtree: StatementSync;
  one: StatementSync;
  put: StatementSync;
  pack: StatementSync;
  putPack: StatementSync;
  treeSums: StatementSync;
  putTreeSums: StatementSync;
}

/**
 * What the last whole walk of a directory found, in the order it found it: a warm walk of a
 * 20,000-file context read its 20,000 rows from SQLite in ~65 ms (node:sqlite makes each row
 * ~1.7 µs however few its columns); one blob of them is read in ~1 ms, and the next walk, in
 * the same order, meets each file at the pack's cursor, with no lookup by path at all.
 *
 * The blob: "KDP2", count n and the digests' byte length (u32; 16 bytes of header), then
 * n × [size, mtime µs, inode, mode] (f64), the n digests and the n paths relative to the
 * directory, each list joined by NUL.
 */
interface Pack {
  /** The walked directory, ending in '/'. */
  dir: string;
  paths: string[];
  ids: Float64Array;
  digests: Digest[];
  /** Where the walk is expected next. */
  next: number;
  /** Files not found in order so far. */
  lost: number;
  /** By path, made once many files were not found in order. */
  index?: Map<string, number>;
}

/**
 * What a walk of `dir` has found so far: the pack its end may write. While the walk meets the
 * pack's files in the pack's order, unchanged, it only counts them (`prefix`); the first file it
 * meets otherwise, and they are copied out and the rest recorded one by one (`recording`).
 */
interface Walked {
  dir: string;
  recording: boolean;
  prefix: number;
  paths: string[];
  ids: number[];
  digests: string[];
  /** Files the pack did not answer for (new, changed, or no pack at all). */
  misses: number;
}

const PACK_MAGIC = 0x3250444b; // "KDP2", little-endian
/**
 * A walk of more files than this writes no pack (a pack's findings are ~250 bytes a file while
 * the walk runs): it reads the rows, as it did, and lets them go when it ends (release).
 */
const PACK_MAX = 50_000;

/** Checksums kept per directory tree (a build asks a few: `COPY package.json`, `COPY .`). */
const TREE_SUMS = 32;

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
  private pack?: Pack;
  private walked?: Walked;

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
         CREATE TABLE IF NOT EXISTS walk_packs (dir TEXT PRIMARY KEY, data BLOB NOT NULL);
         CREATE TABLE IF NOT EXISTS tree_sums (dir TEXT PRIMARY KEY, tree TEXT NOT NULL, sums TEXT NOT NULL);
         DROP TABLE IF EXISTS file_digest`,
        5000,
      );
      const subtree = db.prepare(
        'SELECT path, size, mtime_us, ino, mode, digest FROM file_digests WHERE path > ? AND path < ?',
      );
      subtree.setReturnArrays(true);
      const one = db.prepare(
        'SELECT path, size, mtime_us, ino, mode, digest FROM file_digests WHERE path = ?',
      );
      one.setReturnArrays(true);
      const put = db.prepare(
        'INSERT OR REPLACE INTO file_digests (path, size, mtime_us, ino, mode, digest) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const pack = db.prepare('SELECT data FROM walk_packs WHERE dir = ?');
      const putPack = db.prepare('INSERT OR REPLACE INTO walk_packs (dir, data) VALUES (?, ?)');
      const treeSums = db.prepare('SELECT tree, sums FROM tree_sums WHERE dir = ?');
      const putTreeSums = db.prepare('INSERT OR REPLACE INTO tree_sums (dir, tree, sums) VALUES (?, ?, ?)');
      this.opened = { db, subtree, one, put, pack, putPack, treeSums, putTreeSums };
    }
    return this.opened;
  }

  /** The cached digest when the file's identity is unchanged. */
  get(absPath: string, id: FileIdentity): Digest | undefined {
    if (hasEscape(absPath)) return undefined;
    const w = this.walked;
    if (w && absPath.startsWith(w.dir)) {
      const rel = absPath.slice(w.dir.length);
      // Only this directory's pack: another's may hold the same relative path.
      const p = this.pack?.dir === w.dir ? this.pack : undefined;
      const i = p ? packIndex(p, rel) : -1;
      let digest: Digest | undefined;
      if (i >= 0 && sameIdentityAt((p as Pack).ids, i * 4, id)) {
        digest = (p as Pack).digests[i];
        if (!w.recording && i === w.prefix) {
          w.prefix++;
          return digest;
        }
      } else {
        w.misses++;
        digest = this.rowDigest(absPath, id);
      }
      if (digest) this.note(w, rel, id, digest);
      return digest;
    }
    return this.rowDigest(absPath, id);
  }

  /** From the rows: those preloaded, else (a directory with a pack) the one row asked for. */
  private rowDigest(absPath: string, id: FileIdentity): Digest | undefined {
    let row = this.rows.get(absPath);
    if (!row && this.pack && absPath.startsWith(this.pack.dir)) {
      row = this.sql.one.get(absPath) as unknown as Row | undefined;
    } else if (!row) {
      this.loadRows(absPath.slice(0, absPath.lastIndexOf('/') + 1));
      row = this.rows.get(absPath);
    }
    if (!row || !sameIdentityAt(row, 1, id)) return undefined;
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
    const w = this.walked;
    if (w && absPath.startsWith(w.dir)) {
      this.note(w, absPath.slice(w.dir.length), id, digest);
    }
    if (++this.pending >= 5000) this.flush();
  }

  /**
   * A walk of `dir` starts: read its last whole walk's pack, or else every row under it once,
   * before the walk looks files up; lookups outside every preloaded directory load their own
   * directory's subtree.
   */
  preload(dir: string): void {
    if (!dir.endsWith('/')) dir += '/';
    if (this.pack?.dir === dir) {
      this.pack.next = 0;
      this.pack.lost = 0;
    } else {
      const data = this.loaded.some((p) => dir.startsWith(p))
        ? undefined
        : (this.sql.pack.get(dir) as { data: Uint8Array } | undefined);
      const pack = data && readPack(dir, data.data);
      if (pack) this.pack = pack;
      else this.loadRows(dir);
    }
    // Without a pack of its own, the walk records everything and writes one at its end.
    const packed = this.pack?.dir === dir;
    this.walked = {
      dir,
      recording: !packed,
      prefix: 0,
      paths: [],
      ids: [],
      digests: [],
      misses: packed ? 0 : Number.POSITIVE_INFINITY,
    };
  }

  /** Read every row under `dir` (and its subdirectories) once. */
  private loadRows(dir: string): void {
    if (this.loaded.some((p) => dir.startsWith(p))) return;
    // Paths under dir/ sort between "dir/" and "dir0" ('0' follows '/').
    for (const r of this.sql.subtree.all(dir, `${dir.slice(0, -1)}0`) as unknown as Row[]) {
      if (!this.rows.has(r[0])) this.rows.set(r[0], r);
    }
    this.loaded.push(dir);
  }

  /**
   * The walk that preload began is over. When it was a whole walk of its directory (every
   * entry, not some paths in it) and found anything the pack did not say, its findings become
   * the directory's pack.
   */
  endWalk(whole: boolean): void {
    const w = this.walked;
    this.walked = undefined;
    if (!w || !whole || w.paths.length > PACK_MAX) return;
    // A few files the pack does not answer for are looked up one by one (~7 µs each): a new
    // pack costs more (~30 ms at 20,000 files) than a walk gains from it, until many have changed
    // or gone.
    const p = this.pack;
    const met = w.recording ? w.paths.length : w.prefix;
    if (p?.dir === w.dir && w.misses <= Math.max(64, p.paths.length >> 6) && met >= p.paths.length * 0.9) {
      return;
    }
    this.record(w);
    const data = writePack(w);
    this.flush();
    this.sql.putPack.run(w.dir, data);
    // Not kept: a build that wrote it (a cold one) holds its memory for the steps to come.
    this.pack = undefined;
  }

  /**
   * A walk is over: forget the rows read so far when there are many. On a 200,000-file context
   * they are ~70 MiB that would otherwise stay for the whole build, through the COPY and the
   * layer write that follow; a smaller set stays, as a Dockerfile's next COPY from the same
   * context (package.json, then `.`) would read it again. `force` drops them whatever their number.
   */
  release(force = false): void {
    if (force || (this.pack?.paths.length ?? 0) > RELEASE_ABOVE) this.pack = undefined;
    if (!force && this.rows.size <= RELEASE_ABOVE) return;
    this.rows.clear();
    this.loaded.length = 0;
  }

  /** A file the walk found, recorded for its pack (the pack's files met so far copied out first). */
  private note(w: Walked, rel: string, id: FileIdentity, digest: Digest): void {
    this.record(w);
    if (w.paths.length > PACK_MAX) return;
    w.paths.push(rel);
    w.ids.push(id.size, id.mtimeUs, id.ino, id.mode);
    w.digests.push(digest);
  }

  /** From now on the walk's findings are recorded one by one, beginning with the pack's it met. */
  private record(w: Walked): void {
    if (w.recording) return;
    w.recording = true;
    const p = this.pack as Pack;
    w.paths = p.paths.slice(0, w.prefix);
    w.ids = Array.from(p.ids.subarray(0, w.prefix * 4));
    w.digests = p.digests.slice(0, w.prefix);
  }

  /**
   * The checksum `what` (a request: paths, filters) of directory `dir` took when its whole tree
   * was last seen as `tree` (a pre-stat's fingerprint, prestat.ts), or undefined. One tree per
   * directory is kept: the last one seen.
   */
  treeSum(dir: string, tree: string, what: string): string | undefined {
    if (hasEscape(dir)) return undefined;
    const sum = this.treeSums(dir, tree)[what];
    return typeof sum === 'string' ? sum : undefined;
  }

  /** The sums kept for `dir` while its tree is `tree` (none for another tree). */
  private treeSums(dir: string, tree: string): Record<string, string> {
    const row = this.sql.treeSums.get(dir) as { tree: string; sums: string } | undefined;
    return row?.tree === tree ? JSON.parse(row.sums) : {};
  }

  /** Keep `sum` as treeSum's answer (a new tree replaces the directory's sums; at most TREE_SUMS). */
  putTreeSum(dir: string, tree: string, what: string, sum: string): void {
    if (hasEscape(dir)) return;
    const sums = this.treeSums(dir, tree);
    delete sums[what];
    sums[what] = sum;
    const keys = Object.keys(sums);
    for (const k of keys.slice(0, Math.max(0, keys.length - TREE_SUMS))) delete sums[k];
    this.flush();
    this.sql.putTreeSums.run(dir, tree, JSON.stringify(sums));
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

/** The file at `rel`: at the pack's cursor when the walk goes as the last one went. */
function packIndex(p: Pack, rel: string): number {
  let i = p.next;
  // A file removed since: a few steps ahead. A new one: not there, and the cursor stays. A walk
  // in another order (some paths of the directory): found by path, past a few such misses.
  const ahead = Math.min(p.paths.length, i + LOOKAHEAD);
  while (i < ahead && p.paths[i] !== rel) i++;
  if (i === ahead) {
    if (++p.lost < LOST_BEFORE_INDEX) return -1;
    p.index ??= new Map(p.paths.map((path, k) => [path, k]));
    i = p.index.get(rel) ?? -1;
    if (i < 0) return -1;
  }
  p.next = i + 1;
  return i;
}

/** Pack entries looked at past the cursor before a file counts as not in order. */
const LOOKAHEAD = 8;
/** Files not found in order before the pack is indexed by path (~1 µs a file). */
const LOST_BEFORE_INDEX = 64;

/** Whether size, mtime, inode and mode from `values[o]` on (a row's, a pack's) are `id`'s. */
function sameIdentityAt(values: ArrayLike<unknown>, o: number, id: FileIdentity): boolean {
  return (
    values[o] === id.size &&
    values[o + 1] === id.mtimeUs &&
    values[o + 2] === id.ino &&
    values[o + 3] === id.mode
  );
}

/** The blob of a walk's findings. */
function writePack(w: Walked): Buffer {
  const n = w.paths.length;
  const ids = new Float64Array(w.ids);
  const digests = Buffer.from(w.digests.join('\0'));
  const paths = Buffer.from(w.paths.join('\0'));
  const head = Buffer.alloc(16);
  head.writeUInt32LE(PACK_MAGIC, 0);
  head.writeUInt32LE(n, 4);
  head.writeUInt32LE(digests.length, 8);
  return Buffer.concat([head, Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength), digests, paths]);
}

/** A pack from its blob, or undefined when the blob is not one. */
function readPack(dir: string, blob: Uint8Array): Pack | undefined {
  const data = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (data.length < 16 || data.readUInt32LE(0) !== PACK_MAGIC) return undefined;
  const n = data.readUInt32LE(4);
  const at = 16 + n * 32;
  const end = at + data.readUInt32LE(8);
  if (end > data.length) return undefined;
  const digests = n ? data.toString('utf8', at, end).split('\0') : [];
  const paths = n ? data.toString('utf8', end).split('\0') : [];
  if (paths.length !== n || digests.length !== n) return undefined;
  // Copied out in one piece: the blob's offset need not be a multiple of 8.
  const ids = new Float64Array(new Uint8Array(data.subarray(16, at)).buffer);
  return { dir, paths, ids, digests: digests as Digest[], next: 0, lost: 0 };
}
