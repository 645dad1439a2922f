/**
 * The context pre-stat: for `kiln build DIR`, bin/kiln.cjs starts bin/prestat-walker.cjs as a
 * process of its own before kiln has even loaded; it lists and lstats DIR's directories in the
 * walk's order (depth-first, names sorted) and writes each listing to a file this process reads.
 * The context walk (walk.ts DirFS) takes a directory's listing from here when the walker has
 * written it, waits while the walker is still before it, and reads the directory itself
 * otherwise. The walk of a 20,000-file context's warm build (~90 ms of lstat) then happens during
 * start-up, on the core start-up leaves idle.
 *
 * What the walker saw is what the walk would have seen a moment earlier: a build reads its
 * context once, at its start, as BuildKit receives it. A file whose content is hashed (no cached
 * digest) has its digest cached under the identity of the descriptor it was read through, never
 * under the walker's older lstat (checksum.ts fileDigest).
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  type Stats,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** Fields per entry in a listing's stats, as the walker writes them. */
export const PRESTAT_FIELDS = 9;
/** Where each number sits in an entry's fields (bin/prestat-walker.cjs writes them in this order). */
export const PRESTAT_AT = {
  mode: 0,
  uid: 1,
  gid: 2,
  size: 3,
  mtimeMs: 4,
  ino: 5,
  dev: 6,
  nlink: 7,
  ctimeMs: 8,
} as const;

/** One directory: its names sorted as the walk sorts them, and their lstat numbers. */
export interface Listing {
  names: string[];
  /** Per name: mode, uid, gid, size, mtimeMs, ino, dev, nlink, ctimeMs; NaN mode when lstat failed. */
  st: Float64Array;
}

/** The numbers of one entry an incremental COPY compares (fileops/reuse.ts; an lstat's Stats has them too). */
export interface PrestatStat {
  mode: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  nlink: number;
}

/** What bin/prestat.cjs leaves for this module (globalThis[KEY]). */
interface Launched {
  root: string;
  /** The walker's output, read from the start (positional reads). */
  fd: number;
  /** Kill the walker (harmless once it has ended). */
  stop(): void;
  started: number;
}

/**
 * What the walker saw of the whole tree (Prestat.fingerprint): a digest of every record it wrote
 * — each entry's name and lstat numbers, mode, owner, size, mtime, inode, device, links and ctime
 * — and whether every entry's mtime and ctime were older than the walk by TREE_QUIET_MS.
 */
export interface TreeFingerprint {
  digest: string;
  /**
   * Nothing changed just before the walk: a change within the same clock tick as an entry's
   * recorded time could leave its numbers as they were (as git's racily clean files). Only then
   * may a checksum be kept under the digest.
   */
  quiet: boolean;
}

/** See TreeFingerprint.quiet: the same margin the digest cache keeps (RACY_US, inodedigests.ts). */
const TREE_QUIET_MS = 100;

/** Record types and header size, as bin/prestat-walker.cjs writes them (writeRecord). */
const LISTING = 1;
const END = 3;
const HEADER = 16;
/** Bytes read from the walker's file at once. */
const READ_CHUNK = 1 << 20;

/** A pre-stat older than this when the walk starts is not used: the tree may have moved on. */
const MAX_AGE_MS = 10_000;
/** The walker made no progress for this long: the walk goes on alone. */
const STALL_MS = 200;
/** How long one wait for the walker's next record is. */
const POLL_MS = 1;

const KEY = Symbol.for('kiln.prestat');

export class Prestat {
  readonly root: string;
  private readonly fd: number;
  private readonly stop: () => void;
  private readonly listings = new Map<string, Listing | null>();
  /** Listings handed to the walk, kept for `stat` (an incremental COPY's reuse asks again). */
  private readonly kept = new Map<string, Listing>();
  /** The last directory the walker wrote: a directory before it in walk order was left out. */
  private last?: string;
  private done = false;
  /** The walker's end record was read: it wrote all it will. */
  private ended = false;
  /** Bytes of the walker's file read so far. */
  private offset = 0;
  /** Read and not yet taken: bytes [0, filled) of buf, the start of a record. */
  private buf: Buffer = Buffer.alloc(0);
  private filled = 0;
  /** Listings given to the walk so far. */
  handed = 0;
  /** Every record read, hashed (see fingerprint). */
  private readonly tree: Hash = createHash('sha256');
  /** A directory was left out or a record did not add up: no fingerprint. */
  private partial = false;
  /** The walker listed the root: it walked (without a hint of its own it writes only its end). */
  private rootListed = false;
  /** The newest mtime or ctime among the entries (ms). */
  private newest = 0;
  private print?: TreeFingerprint | null;
  get closed(): boolean {
    return this.done;
  }

  private readonly started: number;

  constructor(l: Launched) {
    this.started = l.started;
    this.root = l.root;
    this.fd = l.fd;
    this.stop = l.stop;
  }

  /**
   * The listing of directory `rel` (root-relative, '' for the root), or undefined: read it
   * yourself (the walker left it out, failed on it, stopped, or stalled).
   */
  listing(rel: string): Listing | undefined {
    // Written, or never will be: finished, closed, or past `rel` in the walk's order.
    const answered = this.waitFor(
      () =>
        this.listings.has(rel) ||
        this.ended ||
        this.done ||
        (this.last !== undefined && walkedPast(this.last, rel)),
    );
    if (!answered) {
      this.close();
      return undefined;
    }
    const got = this.listings.get(rel);
    if (got === undefined) return undefined;
    this.listings.delete(rel);
    if (got) {
      this.handed++;
      this.kept.set(rel, got);
    }
    return got ?? undefined;
  }

  /** Read what the walker writes until `done()` holds; false when it made no progress for STALL_MS first. */
  private waitFor(done: () => boolean): boolean {
    let waited = 0;
    for (;;) {
      if (this.drain()) waited = 0;
      if (done()) return true;
      if (waited >= STALL_MS) return false;
      Atomics.wait(sleeper, 0, 0, POLL_MS);
      waited += POLL_MS;
    }
  }

  /**
   * What the walker saw of the whole tree, once it has written all of it; undefined when it did
   * not walk (no hint of the context's own), left anything out (a directory .dockerignore names,
   * one over its budget, a name it cannot sort, a failed lstat), stopped, or stalled. Waits for the
   * walker as `listing` does; the listings stay for the walk.
   */
  fingerprint(): TreeFingerprint | undefined {
    if (this.print === undefined) {
      this.waitFor(() => this.ended || this.done);
      // The root's own numbers too (no listing holds them), as they are now.
      const root = this.ended && this.rootListed && !this.partial ? lstatOrUndefined(this.root) : undefined;
      if (root) {
        this.tree.update(
          JSON.stringify([root.mode, root.uid, root.gid, root.mtimeMs, root.ino, root.dev, root.ctimeMs]),
        );
        this.newest = Math.max(this.newest, root.mtimeMs, root.ctimeMs);
      }
      // `started` is when kiln took the walker's output, after the walker began.
      this.print = root
        ? { digest: this.tree.digest('hex'), quiet: this.newest < this.started - TREE_QUIET_MS }
        : null;
    }
    return this.print ?? undefined;
  }

  /** Whether the walker has written everything it will (for tests, which wait for it). */
  finished(): boolean {
    this.drain();
    return this.ended;
  }

  /**
   * What the walker's lstat saw at `rel` (root-relative), when the walk took its directory's
   * listing; undefined otherwise (lstat it yourself). As old as the listing: the moment the build
   * read its context at.
   */
  stat(rel: string): PrestatStat | undefined {
    const slash = rel.lastIndexOf('/');
    const dir = slash < 0 ? '' : rel.slice(0, slash);
    // Not handed to a walk when a fingerprint answered the checksum: read all the same.
    const listing = this.kept.get(dir) ?? (this.print ? this.listings.get(dir) : undefined) ?? undefined;
    if (listing === undefined) return undefined;
    const name = rel.slice(slash + 1);
    // The walker sorted the names with Array#sort (UTF-16 order; it leaves out any directory with
    // a name outside the BMP): the same order `<` compares in.
    const names = listing.names;
    let lo = 0;
    let hi = names.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (names[mid] === name) {
        const o = mid * PRESTAT_FIELDS;
        const st = listing.st;
        if (Number.isNaN(st[o + PRESTAT_AT.mode])) return undefined;
        return {
          mode: st[o + PRESTAT_AT.mode],
          size: st[o + PRESTAT_AT.size],
          mtimeMs: st[o + PRESTAT_AT.mtimeMs],
          nlink: st[o + PRESTAT_AT.nlink],
          ctimeMs: st[o + PRESTAT_AT.ctimeMs],
        };
      }
      if (names[mid] < name) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  tooOld(): boolean {
    return Date.now() - this.started > MAX_AGE_MS;
  }

  /** Stop the walker and drop what it wrote. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.listings.clear();
    this.kept.clear();
    this.buf = Buffer.alloc(0);
    this.filled = 0;
    this.stop();
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
  }

  /** Read what the walker has written since; true when a record came. */
  private drain(): boolean {
    if (this.done || this.ended) return false;
    let progressed = false;
    for (;;) {
      // Room for a chunk more, or for all of a record whose header is in (read in one piece, not
      // gathered a chunk at a time: one directory of 100,000 names is a 10 MB record).
      const whole = this.filled >= HEADER ? recordLength(this.buf, 0) : 0;
      const room = Math.max(whole, this.filled + READ_CHUNK);
      if (this.buf.length < room) {
        const grown = Buffer.allocUnsafe(room);
        this.buf.copy(grown, 0, 0, this.filled);
        this.buf = grown;
      }
      let n: number;
      try {
        n = readSync(this.fd, this.buf, this.filled, this.buf.length - this.filled, this.offset);
      } catch {
        this.close();
        return progressed;
      }
      if (n === 0) return progressed;
      this.offset += n;
      this.filled += n;
      let at = 0;
      while (!this.ended && this.filled - at >= HEADER) {
        const size = recordLength(this.buf, at);
        if (this.filled - at < size) break;
        this.tree.update(this.buf.subarray(at, at + size));
        this.take(this.buf, at);
        progressed = true;
        at += size;
      }
      if (this.ended) return progressed;
      // What is left is the start of the next record: to the front.
      this.buf.copy(this.buf, 0, at, this.filled);
      this.filled -= at;
    }
  }

  /** The whole record at `at` of `b`. */
  private take(b: Buffer, at: number): void {
    const type = b[at];
    if (type === END) {
      this.ended = true;
      return;
    }
    const relBytes = b.readUInt32LE(at + 4);
    const namesBytes = b.readUInt32LE(at + 8);
    const count = b.readUInt32LE(at + 12);
    const rel = b.toString('utf8', at + HEADER, at + HEADER + relBytes);
    this.last = rel;
    // The other type (2): a directory the walker left out (read it yourself).
    if (type !== LISTING) {
      this.listings.set(rel, null);
      this.partial = true;
      return;
    }
    const namesAt = at + HEADER + relBytes;
    const names = count === 0 ? [] : b.toString('utf8', namesAt, namesAt + namesBytes).split('\0');
    const statsAt = at + ((HEADER + relBytes + namesBytes + 7) & ~7);
    const st = new Float64Array(count * PRESTAT_FIELDS);
    Buffer.from(st.buffer).set(b.subarray(statsAt, statsAt + st.byteLength));
    // A record that does not add up (a walker killed halfway writes none whole): left out.
    this.listings.set(rel, names.length === count ? { names, st } : null);
    if (names.length !== count) this.partial = true;
    else if (rel === '') this.rootListed = true;
    for (let o = 0; o < st.length; o += PRESTAT_FIELDS) {
      const m = st[o + PRESTAT_AT.mtimeMs];
      const c = st[o + PRESTAT_AT.ctimeMs];
      if (m > this.newest) this.newest = m;
      if (c > this.newest) this.newest = c;
      // An entry lstat could not read (NaN) is no proof of anything.
      if (Number.isNaN(m) || Number.isNaN(c)) this.partial = true;
    }
  }
}

/** The length of the record whose header is at `at` of `b` (bin/prestat-walker.cjs writeRecord). */
function recordLength(b: Buffer, at: number): number {
  if (b[at] === END) return HEADER;
  const relBytes = b.readUInt32LE(at + 4);
  const namesBytes = b.readUInt32LE(at + 8);
  const stats = b[at] === LISTING ? b.readUInt32LE(at + 12) * PRESTAT_FIELDS * 8 : 0;
  return ((HEADER + relBytes + namesBytes + 7) & ~7) + stats;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** What `listing` waits on between reads (never notified: a sleep that needs no timer). */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

let claimed: Prestat | null | undefined;

/**
 * The pre-stat of `root` when the launcher started one for it and it is fresh, else undefined.
 * Every walk of the build's context shares it (each listing is handed out once); the first
 * question about another root, or a stale one, closes it.
 */
export function prestatFor(root: string): Prestat | undefined {
  if (claimed === undefined) {
    const l = (globalThis as { [KEY]?: Launched })[KEY];
    claimed = l ? new Prestat(l) : null;
  }
  if (claimed === null || claimed.closed) return undefined;
  if (claimed.tooOld()) {
    claimed.close();
    return undefined;
  }
  return claimed.root === root ? claimed : undefined;
}

/**
 * A walk this big pays for the walker process, a Node of its own started beside kiln's (lstat on
 * the main thread costs ~7 µs an entry): past it, the build leaves the launcher a hint. With a
 * second CPU the walker runs while kiln starts, and pays from ~1,000 entries (warm builds, paired:
 * 2,029 entries 0.86 of the time, 1,021 0.90, 623 0.97, ~220 1.01); on one CPU it only competes
 * with kiln's start (2,029 entries 1.13), so there only a big tree is worth it.
 */
export const PRESTAT_WORTH = 5_000;
export const PRESTAT_WORTH_PARALLEL = 1_000;

/** The size past which a context is pre-stat, for this many CPUs (the ones kiln may run on). */
export function prestatWorth(cpus = availableParallelism()): number {
  return cpus >= 2 ? PRESTAT_WORTH_PARALLEL : PRESTAT_WORTH;
}

/**
 * The context at `root` had `entries` entries: leave or remove the launcher's hint that its next
 * build should pre-stat it (bin/prestat.cjs hintFile, the same name). Best effort.
 */
export function notePrestatSize(root: string, entries: number): void {
  // Only for the context a `kiln build DIR` names, as the launcher would take it: not a server's
  // uploads or a stdin tar's extraction, whose directories come and go.
  const argv = process.argv.slice(2);
  const last = argv[argv.length - 1];
  if (!argv.includes('build') || last === undefined || last.startsWith('-') || resolve(last) !== root) return;
  const file = hintFile(root);
  try {
    if (entries >= prestatWorth()) {
      if (existsSync(file)) return;
      mkdirSync(dirname(file), { recursive: true });
      pruneHints(dirname(file));
      // The path inside, so that a later prune can tell a hint whose context is gone.
      writeFileSync(file, root);
    } else rmSync(file, { force: true });
  } catch {
    // a read-only home: no hint, no pre-stat
  }
}

/** Hints left for contexts that are gone (a CI checkout, a scratch directory), removed. */
function pruneHints(dir: string): void {
  for (const name of readdirSync(dir).slice(0, MAX_PRUNED)) {
    const hint = join(dir, name);
    const root = readFileSync(hint, 'utf8');
    // Also a name of an earlier kiln's (no `@`) and an output bin/kiln left (`run-PID`, empty).
    if (root === '' || !name.includes('@') || !existsSync(root)) rmSync(hint, { force: true });
  }
}

/** Hints looked at per new one: a prune stays a few milliseconds however many there are. */
const MAX_PRUNED = 200;

/** Where the hint for `root` is: bin/prestat.cjs hintFile, which the launcher runs (tested alike). */
export function hintFile(root: string): string {
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME || '/tmp', '.cache');
  let h = 0x811c9dc5;
  for (let i = 0; i < root.length; i++) h = Math.imul(h ^ root.charCodeAt(i), 0x01000193) >>> 0;
  // The last component first: bin/kiln looks for BASE@* before Node starts (at most 100 units long).
  const last = basename(root);
  const name = `${last.length <= 100 ? last : ''}@${h.toString(16).padStart(8, '0')}-${root.length}`;
  return join(base, 'kiln', 'prestat', name);
}

/** Forget the pre-stat (closing it): for tests, which start one per case. */
export function resetPrestat(): void {
  if (claimed) claimed.close();
  claimed = undefined;
}

/** Whether the walker, having written directory `a`, has gone past `b` in the walk's order. */
export function walkedPast(a: string, b: string): boolean {
  if (a === b) return false;
  if (b === '') return true;
  if (a === '') return false;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] > y[i];
  }
  // One holds the other: a parent comes before what is under it.
  return x.length > y.length;
}
