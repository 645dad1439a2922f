/**
 * Content checksums of exactly the files a COPY reads (BuildKit's contenthash idea): a digest
 * over each entry's name, type, mode, optionally uid/gid, link target and content digest — not
 * mtimes — so touching or editing an unrelated file leaves it unchanged. File digests come from
 * a persistent DigestCache when the file's size, mtime, inode and mode are unchanged, or from the
 * digests a tar context's extraction handed over (handed.ts).
 */
import { createHash } from 'node:crypto';
import { isReplaced, sourceChanged } from '../confine/fd.ts';
import { resolveInRoot } from '../confine/resolve.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError, pathTooLong } from '../errors/errors.ts';
import { goBase, goClean, PatternMatcher } from '../frontend/dockerignore/index.ts';
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, type Stats } from '../sys/fs.ts';
import { encodePath } from '../sys/fsname.ts';
import type { DigestCache, FileIdentity } from './digestcache.ts';
import { handedDigest } from './handed.ts';
import { type InodeDigests, inodeIdentity, RACY_US } from './inodedigests.ts';
import { hashOpenFile, helperHasher } from './offhash.ts';
import { notePrestatSize } from './prestat.ts';
import { containsWildcards, resolveWildcards } from './resolve.ts';
import { DirFS, FilterFS, type WalkEntry, type Walker, walkAll } from './walk.ts';

export interface ChecksumOptions {
  /** The source root: a context directory or a stage's root filesystem. */
  root: string;
  /** Source paths as COPY names them (relative to the root; Go filepath.Match wildcards allowed). */
  paths: readonly string[];
  /** Expand wildcards in `paths` (default true). */
  wildcard?: boolean;
  /** Follow a symlink named by a source path itself (inside the root). */
  followSymlinks?: boolean;
  /** Root-relative patterns hiding files from the root (the .dockerignore list). */
  excludePatterns?: readonly string[];
  /** COPY --exclude patterns, relative to each source. */
  copyExcludePatterns?: readonly string[];
  /** Include uid/gid (true for stage roots; local contexts are sent as 0:0 by BuildKit clients). */
  ownership?: boolean;
  /** A wildcard matching nothing is allowed (its contribution is empty). */
  allowEmptyWildcard?: boolean;
  /** `root` is a build context, not another stage's filesystem. */
  localContext?: boolean;
  cache?: DigestCache;
  /** `root` is a view of committed snapshots: file digests are kept by inode (inodedigests.ts). */
  inodes?: InodeDigests;
  /**
   * More of an entry to hash (root-relative path): what a copy from another stage keeps of it
   * beyond name, type, mode, owner and content (worker/stage-checksum.ts).
   */
  extra?: (path: string, e: WalkEntry) => string;
  /** Told each entry read (root-relative path, type, mode, content digest or link target). */
  visit?: (path: string, type: string, mode: number, content: string) => void;
}

const SMALL_FILE = 1 << 20;
/** Bytes hashed on the main thread so far (checksumInSteps ends a slice by them too). */
let hashedBytes = 0;

/** Bytes this process has hashed on its main thread (the large files a stepped checksum hands off are not). */
export function hashedOnMainThread(): number {
  return hashedBytes;
}

/** sha256 of one regular file: small files are read whole and synchronously, big ones in 1 MiB chunks. */
export function hashFileContent(abs: string, size: number): Digest {
  return hashOpened(abs, size).digest;
}

/** The file's digest and its lstat numbers as read (the descriptor's: the very file hashed). */
function hashOpened(abs: string, size: number): { digest: Digest; st: Stats } {
  try {
    return hashFile(abs, size);
  } catch (err) {
    // The walk saw a file here: it was replaced (by a symlink, or a parent by one) since.
    if (isReplaced(err)) throw sourceChanged(abs);
    throw err;
  }
}

function hashFile(abs: string, size: number): { digest: Digest; st: Stats } {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    hashedBytes += st.size;
    if (size <= SMALL_FILE && st.size <= SMALL_FILE) {
      return { digest: `sha256:${createHash('sha256').update(readFileSync(fd)).digest('hex')}`, st };
    }
    return { digest: hashOpenFile(fd), st };
  } finally {
    closeSync(fd);
  }
}

/** Content digest of a regular file entry, through the cache when one is given. */
export function fileDigest(abs: string, e: WalkEntry, cache?: DigestCache): Digest {
  return entryDigest(abs, e, cache);
}

/**
 * fileDigest; with `later` (a checksum in steps), a large file not in the cache is hashed by a
 * helper process (offhash.ts) while the walk goes on, and its digest is a promise `later` bounds.
 */
function entryDigest(abs: string, e: WalkEntry, cache: DigestCache | undefined): Digest;
function entryDigest(
  abs: string,
  e: WalkEntry,
  cache: DigestCache | undefined,
  later: Later | undefined,
): Digest | Promise<Digest>;
function entryDigest(
  abs: string,
  e: WalkEntry,
  cache: DigestCache | undefined,
  later?: Later,
): Digest | Promise<Digest> {
  const id = { size: e.size, mtimeUs: e.mtimeUs, ino: e.ino, mode: e.mode };
  // A tar context's own digests, taken as it was extracted (handed.ts); its directory is
  // temporary, so what is hashed there is not cached either.
  const handed = handedDigest(abs, id);
  if (handed) return handed;
  const kept = handed === null ? undefined : cache;
  const hit = kept?.get(abs, id);
  if (hit) return hit;
  // What the pre-stat saw may be a moment old: cache the digest only under the identity of the
  // file that was hashed.
  const keep = ({ digest, st }: { digest: Digest; st: Stats }): Digest => {
    if (kept && Date.now() * 1000 - e.mtimeUs > RACY_US && (!e.prestat || sameIdentity(st, id))) {
      kept.put(abs, id, digest);
    }
    return digest;
  };
  if (later && e.size > SMALL_FILE && later.room && helperHasher().offThread) {
    return later.take(hashByHelper(abs).then(keep));
  }
  return keep(hashOpened(abs, e.size));
}

/** The file's digest taken by the helper process (offhash.ts), and its numbers as opened. */
function hashByHelper(abs: string): Promise<{ digest: Digest; st: Stats }> {
  let fd: number;
  try {
    // Non-blocking: a name swapped for a FIFO since the walk must not hold the open.
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isReplaced(err)) throw sourceChanged(abs);
    throw err;
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw sourceChanged(abs);
  }
  return helperHasher()
    .hash(fd)
    .then((digest) => ({ digest, st }));
}

/** Large files whose digests are being taken at once, before the walk waits for one. */
const LATER_FILES = 32;
/** Entries walked past a digest still being taken before the walk waits for it. */
const LATER_BACKLOG = 4096;

/**
 * The digests a checksum in steps has still being taken by the helper (entryDigest): at most
 * LATER_FILES (descriptors held), which checksumInSteps waits on.
 */
class Later {
  private readonly pending = new Set<Promise<unknown>>();
  failed: { err: unknown } | undefined;

  get room(): boolean {
    return this.pending.size < LATER_FILES;
  }

  take(digest: Promise<Digest>): Promise<Digest> {
    const tracked: Promise<void> = digest
      .then(
        () => undefined,
        (err) => {
          this.failed ??= { err };
        },
      )
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return digest;
  }

  /** Until one digest is taken (or none is pending). */
  async one(): Promise<void> {
    if (this.pending.size) await Promise.race(this.pending);
  }

  async all(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }
}

/** Content digest of a committed snapshot's regular file, through its inode's kept digest. */
function snapshotFileDigest(abs: string, e: WalkEntry, inodes: InodeDigests): Digest {
  if (e.ctimeUs === undefined || e.btimeUs === undefined) return hashFileContent(abs, e.size);
  const id = { ino: e.ino, btimeUs: e.btimeUs, mtimeUs: e.mtimeUs, ctimeUs: e.ctimeUs, size: e.size };
  const hit = inodes.get(id);
  if (hit) return hit;
  const { digest, st } = hashOpened(abs, e.size);
  // Kept under what the descriptor hashed says of itself, not the walk's lstat.
  inodes.put(inodeIdentity(st), digest);
  return digest;
}

function sameIdentity(st: Stats, id: FileIdentity): boolean {
  return (
    st.size === id.size &&
    Math.round(st.mtimeMs * 1000) === id.mtimeUs &&
    st.ino === id.ino &&
    st.mode === id.mode
  );
}

function notFound(p: string): KilnError {
  return new KilnError('COPY_SOURCE_NOT_FOUND', `${p}: not found`, {
    hint: 'check the path is inside the build context and not excluded by .dockerignore',
  });
}

/**
 * A wildcard may match nothing (AllowEmptyWildcard), but the directory it is matched in must
 * exist: BuildKit walks that directory and fails on a missing one, as it does when .dockerignore
 * keeps the directory out of the context (BuildKit then never receives it).
 */
function checkWildcardBase(
  root: string,
  p: string,
  clean: string,
  opts: { followSymlinks?: boolean; view?: FilterFS; localContext?: boolean },
): void {
  const parts = clean.split('/');
  const dir = parts.slice(0, parts.findIndex(containsWildcards)).join('/');
  if (dir === '') return;
  const base = resolveInRoot(root, dir, opts.followSymlinks ?? false);
  const exclude = opts.view?.exclude;
  const hidden =
    base.exists &&
    base.rel !== '' &&
    exclude?.matchesOrParentMatches(base.rel) === true &&
    exclude.canSkipExcludedDir(base.rel);
  // A file before the wildcard: BuildKit's context transfer fails reading it as a directory
  // ("readdirent a.txt: not a directory"); in another stage's filesystem it just matches nothing.
  if (base.exists && !hidden && opts.localContext && !lstatSync(base.abs).isDirectory()) {
    throw new KilnError('COPY_SOURCE_NOT_A_DIRECTORY', `${p}: ${dir} is not a directory`, {
      hint: 'the part of a source pattern before its wildcard must name a directory of the context',
    });
  }
  if (base.exists && !hidden) return;
  throw new KilnError(
    'COPY_SOURCE_NOT_FOUND',
    `${p}: not found: directory ${p.startsWith('/') ? '/' : ''}${dir} does not exist${hidden ? ' in the context (.dockerignore excludes it)' : ''}`,
    { hint: 'a wildcard may match nothing, but the directory it is matched in must exist' },
  );
}

export interface ExpandedSource {
  /** The matched source path as named (root-relative, cleaned). */
  source: string;
  /** Where it really is, root-relative, after following links inside the root. */
  rel: string;
  /** It came from a wildcard. */
  wildcard: boolean;
}

/** The root-relative source paths a COPY reads, after wildcard expansion and link following. */
export function expandSources(
  root: string,
  paths: readonly string[],
  opts: {
    wildcard?: boolean;
    followSymlinks?: boolean;
    allowEmptyWildcard?: boolean;
    view?: FilterFS;
    /** `root` is a build context (not another stage's filesystem): see checkWildcardBase. */
    localContext?: boolean;
  },
): ExpandedSource[] {
  const out: ExpandedSource[] = [];
  for (const p of paths) {
    const clean = goClean(`/${p}`).slice(1);
    const wild = (opts.wildcard ?? true) && containsWildcards(clean);
    if (wild) checkWildcardBase(root, p, clean, opts);
    const matches = wild ? resolveWildcards(root, clean, opts.followSymlinks ?? false) : [clean];
    let found = 0;
    for (const m of matches) {
      const r = resolveInRoot(root, m, opts.followSymlinks ?? false);
      if (!r.exists || (r.rel !== '' && opts.view && !opts.view.allows(r.rel))) {
        if (wild) continue;
        throw notFound(p);
      }
      out.push({ source: m, rel: r.rel, wildcard: wild });
      found++;
    }
    if (wild && found === 0 && !opts.allowEmptyWildcard) throw notFound(p);
  }
  return out;
}

/** The digest of what a COPY of `paths` from `root` would read. */
export function checksum(opts: ChecksumOptions): Digest {
  try {
    const run = startChecksum(opts);
    for (let w = run.next(); w; w = run.next()) walkAll(w);
    return run.finish();
  } catch (err) {
    throw pathTooLong(err, 'reading the build context');
  }
}

/**
 * How a checksum in steps shares the main thread: it looks at the clock every `entries` entries
 * and lets the event loop turn once `sliceMs` have gone by. A RUN starting beside it makes ten or
 * so round trips (mounts, the network, runc) before its process runs; each waits for at most one
 * slice.
 */
export interface Slicing {
  entries: number;
  sliceMs: number;
  /** A step also ends once it has hashed this many bytes (~1.5 ms of sha256 and reading). */
  bytes: number;
}

const SLICING: Slicing = { entries: 100, sliceMs: 2, bytes: 2 << 20 };

/**
 * checksum() in slices of ~2 ms (SLICING), letting the event loop run between them: a cold checksum of a
 * big context takes seconds, and the build's other steps (a FROM, a `RUN apt-get` before the
 * COPY) go on meanwhile. The same digest as checksum().
 */
export async function checksumInSteps(opts: ChecksumOptions, slicing: Slicing = SLICING): Promise<Digest> {
  try {
    // Large files are hashed by a helper process meanwhile (entryDigest).
    const later = new Later();
    try {
      return await stepThrough(opts, slicing, later);
    } finally {
      // Nothing of this checksum goes on after it, failed or not (descriptors, cache rows).
      await later.all();
    }
  } catch (err) {
    throw pathTooLong(err, 'reading the build context');
  }
}

/** checksumInSteps' walk, in slices, with `later` waiting for the large files' digests. */
async function stepThrough(opts: ChecksumOptions, slicing: Slicing, later: Later): Promise<Digest> {
  const run = startChecksum(opts, later);
  let since = Date.now();
  // A step of a hundred entries that meets the large files of a context (16 of 8 MiB in W1)
  // would hash for ~100 ms before the event loop turned: a FROM's unpack beside it waited.
  let from = hashedBytes;
  // The walk waits once LATER_FILES digests are being taken, or LATER_BACKLOG entries wait behind one.
  const full = () => !later.room || run.waiting >= LATER_BACKLOG;
  const enough = () => hashedBytes - from >= slicing.bytes || full();
  for (let w = run.next(); w; w = run.next()) {
    for (; !w.step(slicing.entries, enough); from = hashedBytes) {
      if (later.failed) throw later.failed.err;
      if (full()) {
        await later.one();
        since = Date.now();
        continue;
      }
      if (Date.now() - since < slicing.sliceMs) continue;
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = Date.now();
    }
  }
  await later.all();
  if (later.failed) throw later.failed.err;
  return run.finish();
}

/** One entry of a checksum as it is visited and recorded; `content` once its digest is known. */
interface Entry {
  path: string;
  type: string;
  mode: number;
  /** The path below its source. */
  sub: string;
  owner: string;
  more: string;
  content?: string;
}

/** A checksum under way: each source's walk in turn, then the digest. */
interface ChecksumRun {
  /** The next source's walk, or undefined after the last. */
  next(): Walker | undefined;
  /** Entries walked but not yet recorded: behind a digest still being taken. */
  readonly waiting: number;
  finish(): Digest;
}

function startChecksum(opts: ChecksumOptions, later?: Later): ChecksumRun {
  const { root } = opts;
  opts.cache?.preload(root);
  const raw = new DirFS(root);
  const view = new FilterFS(raw, { excludePatterns: opts.excludePatterns ?? [], root });
  const copyExclude =
    opts.copyExcludePatterns && opts.copyExcludePatterns.length > 0
      ? new PatternMatcher(opts.copyExcludePatterns)
      : undefined;
  const h = createHash('sha256');
  // One record per file, hashed a thousand at a time: a hash update per file costs more than
  // the record (a 20,000-file context is walked on every warm build).
  let records: string[] = [];
  // Names are bytes: hashed as a string, every name that is not UTF-8 would hash as U+FFFD.
  const hashRecords = () => h.update(encodePath(records.join('')));
  const record = (line: string) => {
    records.push(line);
    if (records.length >= 1000) {
      hashRecords();
      records = [];
    }
  };
  const emit = (
    path: string,
    type: string,
    mode: number,
    sub: string,
    owner: string,
    more: string,
    content: string,
  ) => {
    opts.visit?.(path, type, mode, content);
    record(`${sub}\0${type}\0${mode.toString(8)}\0${owner}\0${content}${more}\n`);
  };
  // Entries go out (visited, recorded) in walk order: those after a digest still being taken
  // (`later`) wait for it here.
  const queue: Entry[] = [];
  let head = 0;
  const drain = () => {
    for (; head < queue.length && queue[head].content !== undefined; head++) {
      const q = queue[head];
      emit(q.path, q.type, q.mode, q.sub, q.owner, q.more, q.content as string);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
  };
  const wait = (q: Entry, content: string | Promise<string>) => {
    queue.push(q);
    if (typeof content === 'string') q.content = content;
    else
      void content.then(
        (c) => {
          q.content = c;
          drain();
        },
        () => {}, // Later.failed has it: the checksum fails
      );
  };
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const sources = expandSources(root, opts.paths, { ...opts, view });
  let entries = 0;
  let s = 0;
  return {
    get waiting() {
      return queue.length - head;
    },
    next() {
      for (; s < sources.length; s++) {
        const { source, rel, wildcard } = sources[s];
        // A wildcard match is itself subject to --exclude (docs: COPY --exclude=*.txt hom* /mydir/).
        if (copyExclude && wildcard && copyExclude.matchesOrParentMatches(goBase(source))) continue;
        s++;
        record(`source\0${source}\n`);
        return view.walker(rel, (path, e, err) => {
          entries++;
          if (err) throw new KilnError('CONTEXT_READ', `cannot read ${path}: ${err.message}`, { cause: err });
          const sub = rel === '' ? path : path === rel ? '' : path.slice(rel.length + 1);
          if (copyExclude && sub !== '' && copyExclude.matchesOrParentMatches(sub)) return undefined;
          let content: string | Promise<string> = '';
          if (e.type === 'file') {
            content = opts.inodes
              ? snapshotFileDigest(prefix + path, e, opts.inodes)
              : entryDigest(prefix + path, e, opts.cache, later);
          } else if (e.type === 'symlink') content = e.linkTarget ?? '';
          const owner = opts.ownership ? `${e.uid}:${e.gid}` : '';
          const more = opts.extra ? `\0${opts.extra(path, e)}` : '';
          if (typeof content === 'string' && head === queue.length)
            emit(path, e.type, e.mode, sub, owner, more, content);
          else wait({ path, type: e.type, mode: e.mode, sub, owner, more }, content);
          return undefined;
        });
      }
      return undefined;
    },
    finish() {
      if (head !== queue.length) throw new Error('checksum: finished with digests still being taken');
      hashRecords();
      const whole = sources.length === 1 && sources[0].rel === '';
      // A COPY --exclude walk visits every entry but hashes only what it copies: no pack of it.
      opts.cache?.endWalk(whole && !copyExclude);
      opts.cache?.flush();
      opts.inodes?.flush();
      // The whole of a build context walked: whether its next build's launcher should pre-stat it.
      if (opts.localContext && whole) notePrestatSize(root, entries);
      return `sha256:${h.digest('hex')}`;
    },
  };
}
