/**
 * COPY/ADD onto a destination root, following BuildKit's file op (fsutil copy) semantics:
 * wildcard sources, directory contents, dest-is-a-directory rules, created parents 0755,
 * modes/mtimes/hardlinks preserved, symlinks copied as symlinks, --chown, --chmod,
 * --exclude, --parents and ADD's local archive extraction. Sources are read through
 * root-confined resolution and destinations are written only inside real directories.
 */
import { join } from 'node:path';
import {
  isPortableXattr,
  readXattrsIn,
  readXattrTreeIn,
  writeXattrs,
  type Xattrs,
} from '../archive/xattr.ts';
import {
  fdPath,
  isReplaced,
  lstatIn,
  openDirVerified,
  openFileVerified,
  openInRoot,
  openParentStrict,
  sourceChanged,
} from '../confine/fd.ts';
import { resolveInRoot } from '../confine/resolve.ts';
import { type ExpandedSource, expandSources } from '../context/checksum.ts';
import { excludeView, type FilterFS } from '../context/walk.ts';
import { type ErrorCode, isErrno, KilnError, pathTooLong } from '../errors/errors.ts';
import { goBase, goClean, goDir, PatternMatcher } from '../frontend/dockerignore/index.ts';
import {
  chmodSync,
  closeSync,
  constants,
  copyFile,
  copyFileSync,
  fchmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from '../sys/fs.ts';
import { runLimited } from '../sys/limit.ts';
import { mknodSync } from '../sys/mknod.ts';
import { type ModeFn, parseChmod } from './chmod.ts';
import { mkdirAllInRoot } from './dest.ts';
import { FileThread, type ThreadFile } from './file-thread.ts';
import type { LayerLinks } from './layer-links.ts';
import { tryUnpack } from './unpack.ts';
import { type ChownSpec, type Owner, resolveChown } from './user.ts';

export interface CopyOptions {
  /** Root the sources are read from: the context directory or another stage's rootfs. */
  srcRoot: string;
  /** Source paths relative to srcRoot (absolute ones are taken from srcRoot too). */
  srcPaths: readonly string[];
  /** The destination rootfs (a mounted snapshot). */
  destRoot: string;
  /** Destination path inside destRoot; a trailing `/` means "a directory". */
  dest: string;
  /** `--chown`, resolved against destRoot's /etc/passwd and /etc/group. */
  chown?: ChownSpec | Owner;
  /** Owner when there is no chown: {0,0} for the build context; undefined keeps the source's (COPY --from). */
  defaultOwner?: Owner;
  /** `--chmod`: octal or symbolic. */
  chmod?: string;
  /** Follow a symlink named by a source path itself (symlinks inside directories are copied as links). */
  followSymlinks?: boolean;
  /** A source directory's contents are copied, not the directory (true for Dockerfile COPY). */
  dirContentsOnly?: boolean;
  allowWildcard?: boolean;
  allowEmptyWildcard?: boolean;
  /** Create missing parents of dest (Dockerfile COPY: true). Without it the parent must exist. */
  createDestPath?: boolean;
  /** `--exclude` patterns, relative to each source. */
  exclude?: readonly string[];
  /** Root-relative patterns hiding files of srcRoot (the .dockerignore list). */
  srcExcludePatterns?: readonly string[];
  /** srcRoot is a build context, not another stage's filesystem (see expandSources). */
  localContext?: boolean;
  /** `--parents`: keep source paths (after a `/./` pivot, if any) under dest. */
  parents?: boolean;
  /** ADD: extract local tar archives (gzip, bzip2, xz, zstd, plain) into dest. */
  unpack?: boolean;
  /** Fixed mtime for everything written (SOURCE_DATE_EPOCH-style); default keeps source mtimes. */
  mtime?: Date;
  /**
   * Copy extended attributes (e.g. security.capability from a stage's rootfs), via one
   * getfattr/setfattr run per source. Default false.
   */
  xattrs?: boolean;
  /**
   * The attribute tree (as readXattrTree gives it) of a source, by its srcRoot-relative path,
   * when it was read already (the stage checksum of COPY --from): then it is not read again.
   */
  knownXattrs?: (rel: string) => Map<string, Xattrs> | undefined;
  /**
   * Files already in place, hard-linked from the previous result of this COPY (reuse.ts), by
   * path relative to destRoot: they are left as they are.
   */
  reused?: ReadonlySet<string>;
  /**
   * srcRoot is a directory kiln extracted itself and never writes in place (a context sent as a
   * tar: `kiln build -`, kiln serve): a regular file whose owner, mode and time the copy would
   * keep, going into a directory this copy created, is hard-linked instead of copied, into
   * `destUpper`, when both are on one filesystem.
   */
  linkSources?: boolean;
  /**
   * srcRoot is a read-only view of a committed snapshot's layers (COPY --from): a regular file
   * the copy would reproduce exactly, going into a directory this copy created, is hard-linked
   * from the layer holding it (see layer-links.ts), into `destUpper`. The copy closes it.
   */
  layerLinks?: LayerLinks;
  /**
   * The copy is the step's only action on a mount made for it (worker/fileop.ts): when it copies
   * one regular file, that file may be linked (linkSources, layerLinks) into a directory that
   * existed before the copy too — see linkInstead.
   */
  onlyAction?: boolean;
  /**
   * The directory that what this copy creates in destRoot lands in: overlay's upper dir when
   * destRoot is an overlay mount (a directory made through the mount is a real one there, at the
   * same path), else destRoot itself. Regular files going into a directory this copy created are
   * written there directly (see settle), and linkSources and layerLinks link into it.
   */
  destUpper?: string;
}

interface Ctx {
  srcRoot: string;
  destRoot: string;
  owner?: Owner;
  defaultOwner?: Owner;
  mode?: ModeFn;
  exclude?: PatternMatcher;
  mtime?: Date;
  /** Source inode → destination path, for hardlinks within one copy. */
  inodes: Map<string, string>;
  /** Source → target pairs written since the last xattr flush, when xattrs are copied. */
  copied?: [string, string][];
  knownXattrs?: CopyOptions['knownXattrs'];
  /** The source being copied, for its entries' xattrs (see flushXattrs). */
  source?: SourceXattrs;
  reused?: ReadonlySet<string>;
  /** See CopyOptions.linkSources; turned off by the first EXDEV. */
  linkSources: boolean;
  layerLinks?: LayerLinks;
  destUpper?: string;
  /** The copy is of one regular file and the step's only action (CopyOptions.onlyAction). */
  oneFile: boolean;
  /** Regular files to copy, queued by the walk and copied concurrently (see settle). */
  files: FileJob[];
  /** Directory metadata, set in walk (post-)order once the files below are in place. */
  dirMeta: (() => void)[];
}

/** What applyMeta and the source check read of an lstat (a Stats is one). */
type EntryMeta = Pick<
  Stats,
  'dev' | 'ino' | 'mode' | 'uid' | 'gid' | 'atimeMs' | 'mtimeMs' | 'isFile' | 'isDirectory'
>;

/**
 * A regular file the walk queued: where it is and goes, directory and name apart (the
 * directories' strings are shared by their files), and the numbers of its lstat that applyMeta
 * and the source check read. Not paths and the Stats: those held ~700 bytes a file until the copy
 * ended (a COPY of 200,000 files: ~140 MiB of its peak RSS).
 */
class FileJob implements EntryMeta {
  readonly srcDir: string;
  /** '' when srcDir is the file itself (a source named alone). */
  readonly srcName: string;
  readonly dir: string;
  readonly name: string;
  readonly fresh: boolean;
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly size: number;
  constructor(srcDir: string, srcName: string, dir: string, name: string, fresh: boolean, st: Stats) {
    this.srcDir = srcDir;
    this.srcName = srcName;
    this.dir = dir;
    this.name = name;
    this.fresh = fresh;
    this.dev = st.dev;
    this.ino = st.ino;
    this.mode = st.mode;
    this.uid = st.uid;
    this.gid = st.gid;
    this.atimeMs = st.atimeMs;
    this.mtimeMs = st.mtimeMs;
    this.size = st.size;
  }
  get src(): string {
    return sourcePath(this.srcDir, this.srcName);
  }
  get target(): string {
    return targetPath(this.dir, this.name);
  }
  isFile(): boolean {
    return true;
  }
  isDirectory(): boolean {
    return false;
  }
}

/** A source entry's plain path: `name` in directory `dir`, or `dir` itself when `name` is ''. */
function sourcePath(dir: string, name: string): string {
  return name === '' ? dir : `${dir}/${name}`;
}

/** A target's path: `name` in directory `dir`, or `dir` itself when `name` is ''. */
function targetPath(dir: string, name: string): string {
  return name === '' ? dir : join(dir, name);
}

/**
 * Regular files up to this size are copied on the main thread, a read and a write each: for a
 * small file that is half the CPU of copyFile on the thread pool (which reopens the source through
 * /proc, chowns, chmods and splices through copy_file_range, and wakes a pool thread for it): W1's
 * 20,000 files of 64-2,111 bytes, 0.59-0.62 s of wall and CPU against 0.75-0.78 s of wall and
 * 1.21-1.27 s of CPU. Larger files keep the pool, where the kernel moves their bytes.
 */
const SMALL_FILE = 64 * 1024;

/** The buffer small files are copied through (one copy runs at a time on the main thread). */
let smallBuffer: Buffer | undefined;

/** The umask, read once: bits of a new file's mode that open(2) leaves out. */
let umask: number | undefined;

/**
 * Copy source descriptor `fd`'s bytes to a new file at `target` with `mode` (O_EXCL: nothing is
 * followed or replaced there, as COPYFILE_EXCL). Reads to the end, whatever the size was.
 */
function copyBytes(fd: number, target: string, mode: number): void {
  const buf = (smallBuffer ??= Buffer.allocUnsafe(SMALL_FILE));
  const out = openSync(
    target,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let off = 0; off < n; ) off += writeSync(out, buf, off, n - off);
      pos += n;
    }
    // open(2) applies the umask; setuid, setgid and sticky bits are set exactly too.
    umask ??= process.umask();
    if ((mode & (umask | 0o7000)) !== 0) fchmodSync(out, mode);
  } finally {
    closeSync(out);
  }
}

/** Small files, at least, for which a second thread copies some (file-thread.ts). */
const THREAD_MIN = 2000;

/** Small files a batch of the second thread (or a turn of the main thread) takes. */
const CHUNK = 256;

/**
 * Copy the small files on the main thread, and, when they are many, on a second thread too: the
 * main thread takes batches from the front of the walk's order, the thread from the back, so the
 * two create files in different directories. The thread takes only files whose metadata needs no
 * call but their times (threadable); the main thread copies the rest first.
 */
async function copySmall(ctx: Ctx, small: FileJob[]): Promise<void> {
  const shared: FileJob[] = [];
  const own: FileJob[] = [];
  for (const j of small) (small.length >= THREAD_MIN && threadable(ctx, j) ? shared : own).push(j);
  const thread = shared.length > 0 ? await FileThread.start() : undefined;
  let front = 0;
  let back = Math.ceil(shared.length / CHUNK);
  const sent: Promise<void>[] = [];
  let failed: unknown;
  const feed = (): void => {
    while (thread?.ready && failed === undefined && front < back) {
      const start = --back * CHUNK;
      const files = shared.slice(start, start + CHUNK).map((j) => threadFile(ctx, j));
      const done = thread.copy(files).then(
        () => {
          if (ctx.copied) for (const f of files) ctx.copied.push([f.src, f.target]);
          feed();
        },
        (err: unknown) => {
          failed ??= err;
        },
      );
      sent.push(done);
    }
  };
  try {
    thread?.whenOnline(feed);
    await copyOnMain(ctx, own);
    while (failed === undefined && front < back) {
      const start = front++ * CHUNK;
      await copyOnMain(ctx, shared.slice(start, start + CHUNK));
    }
    await Promise.all(sent);
    if (failed !== undefined) throw failed;
  } finally {
    await thread?.close();
  }
}

/** Small files copied on the main thread, turning the event loop now and then. */
async function copyOnMain(ctx: Ctx, jobs: FileJob[]): Promise<void> {
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    const srcText = job.src;
    const target = job.fresh ? inUpper(ctx, job.target) : job.target;
    const src = openFileVerified(srcText, job);
    try {
      copyBytes(src.fd, target, job.mode & 0o7777);
    } finally {
      src.close();
    }
    applyMeta(ctx, job, target, false, srcText, job.fresh);
    if (ctx.copied !== undefined && ctx.copied.length >= XATTRS_QUEUED) await flushXattrs(ctx, false);
    // The pool's large files and the second thread's batches go on to their next meanwhile.
    if (i % 64 === 63) await new Promise<void>((r) => setImmediate(r));
  }
}

/**
 * A file applyMeta would give its times and nothing else (no chown, no chmod): fresh, kiln's
 * and its source's owner, no --chmod. The second thread copies only such files.
 */
function threadable(ctx: Ctx, job: FileJob): boolean {
  if (!job.fresh || ctx.mode) return false;
  const o = ownerFor(ctx, job);
  return o.uid === SELF.uid && o.gid === SELF.gid && o.uid === job.uid && o.gid === job.gid;
}

function threadFile(ctx: Ctx, job: FileJob): ThreadFile {
  const [atime, mtime] = timesOf(ctx, job);
  return {
    src: job.src,
    dev: job.dev,
    ino: job.ino,
    target: inUpper(ctx, job.target),
    mode: job.mode & 0o7777,
    atime,
    mtime,
  };
}

/**
 * Regular files in flight at once. The walk (sync) creates directories and queues files; their
 * bytes move on libuv's thread pool, so file creation and copying use every core: a COPY of
 * 20,000 small files took 2.2 s one at a time and about half that this way.
 */
const FILES_IN_FLIGHT = 8;

/**
 * Copy the queued files, then set the queued directories' metadata (after their contents), then
 * write the xattrs of what is not written yet.
 */
async function settle(ctx: Ctx): Promise<void> {
  const large: FileJob[] = [];
  const small: FileJob[] = [];
  for (const job of ctx.files) (job.size > SMALL_FILE ? large : small).push(job);
  ctx.files = [];
  const copying = runLimited(acrossDirectories(large), FILES_IN_FLIGHT, async (job) => {
    // The source is opened without following a symlink and checked to be the file the walk
    // saw; the bytes are then copied from that very descriptor.
    // (open and fstat are synchronous: two cheap calls instead of two thread-pool trips.)
    const srcText = job.src;
    const target = job.fresh ? inUpper(ctx, job.target) : job.target;
    const src = openFileVerified(srcText, job);
    try {
      await copyFile(src.path, target, constants.COPYFILE_EXCL);
    } finally {
      src.close();
    }
    applyMeta(ctx, job, target, false, srcText, job.fresh);
    if (ctx.copied !== undefined && ctx.copied.length >= XATTRS_QUEUED) await flushXattrs(ctx, false);
  });
  // Rejected while the small files are copied: awaited below, not unhandled meanwhile.
  copying.catch(() => {});
  try {
    await copySmall(ctx, small);
  } finally {
    // Never return (and let the caller unmount) while a copy still writes.
    await copying.catch(() => {});
  }
  await copying;
  for (const set of ctx.dirMeta) set();
  ctx.dirMeta = [];
  await flushXattrs(ctx, true);
}

/**
 * Where a file going into a directory this copy created is written: the same path in the upper
 * dir, behind the mount's back (as linkInstead's links). The mount has looked no name up in such
 * a directory, so it cannot hold a stale answer for one, and the directory and every directory
 * above it are real ones there (made or copied up by the overlay, never a symlink). Creating and
 * touching a file through overlayfs cost twice what the same calls cost on the upper filesystem
 * (`cp -r` of W1's 20,000 files: 1.3-1.5 s through a mount, 0.7-0.8 s beside it).
 */
function inUpper(ctx: Ctx, target: string): string {
  if (ctx.destUpper === undefined || ctx.destUpper === ctx.destRoot) return target;
  if (!target.startsWith(`${ctx.destRoot}/`)) throw new Error(`copy target outside its root: ${target}`);
  return `${ctx.destUpper}${target.slice(ctx.destRoot.length)}`;
}

/**
 * The jobs reordered to take one file from each directory in turn: files created at once in one
 * directory wait for each other on its lock, in different ones they do not.
 */
function acrossDirectories(jobs: FileJob[]): FileJob[] {
  const byDir = new Map<string, FileJob[]>();
  for (const j of jobs) {
    let list = byDir.get(j.dir);
    if (!list) byDir.set(j.dir, (list = []));
    list.push(j);
  }
  if (byDir.size === 1) return jobs;
  const lists = [...byDir.values()];
  const out: FileJob[] = [];
  for (let i = 0; out.length < jobs.length; i++) {
    for (const l of lists) if (i < l.length) out.push(l[i]);
  }
  return out;
}

function err(code: ErrorCode, message: string, hint?: string): KilnError {
  return new KilnError(code, message, hint ? { hint } : {});
}

/** COPY/ADD `srcPaths` from srcRoot to `dest` in destRoot. */
export async function copy(opts: CopyOptions): Promise<void> {
  try {
    await copyUnchecked(opts);
  } catch (err) {
    throw pathTooLong(err, 'copying');
  }
}

async function copyUnchecked(opts: CopyOptions): Promise<void> {
  try {
    await copySources(opts);
  } finally {
    opts.layerLinks?.close();
  }
}

async function copySources(opts: CopyOptions): Promise<void> {
  const owner = opts.chown
    ? 'uid' in opts.chown
      ? opts.chown
      : resolveChown(opts.destRoot, opts.chown)
    : undefined;
  const ctx: Ctx = {
    srcRoot: opts.srcRoot,
    destRoot: opts.destRoot,
    owner,
    defaultOwner: opts.defaultOwner,
    mode: opts.chmod ? parseChmod(opts.chmod) : undefined,
    exclude: opts.exclude && opts.exclude.length > 0 ? new PatternMatcher(opts.exclude) : undefined,
    mtime: opts.mtime,
    inodes: new Map(),
    copied: opts.xattrs ? [] : undefined,
    knownXattrs: opts.knownXattrs,
    reused: opts.reused,
    linkSources: opts.linkSources === true && opts.destUpper !== undefined,
    layerLinks: opts.destUpper !== undefined ? opts.layerLinks : undefined,
    destUpper: opts.destUpper,
    oneFile: false,
    files: [],
    dirMeta: [],
  };
  const view = excludeView(opts.srcRoot, opts.srcExcludePatterns);
  if (opts.createDestPath === false) {
    const parent = resolveInRoot(opts.destRoot, goDir(goClean(`/${opts.dest}`)), true);
    if (!parent.exists) {
      throw err(
        'FILEOP_DEST_PARENT_MISSING',
        `failed to stat ${opts.dest}: its parent directory does not exist`,
        'create the directory first or allow creating the destination path',
      );
    }
  }
  for (const srcPath of opts.srcPaths) {
    if (opts.parents) {
      await copyWithParents(ctx, opts, srcPath, view);
      continue;
    }
    const sources = sourcesOf(opts, srcPath, view);
    for (const s of sources) {
      if (ctx.exclude && s.wildcard && ctx.exclude.matchesOrParentMatches(goBase(s.source))) continue;
      if (
        opts.unpack &&
        (await tryUnpack(ctx.srcRoot, s.rel, opts.destRoot, opts.dest, ctx.owner, ctx.mtime))
      )
        continue;
      await ctx.layerLinks?.prepare(s.rel);
      ctx.oneFile = opts.onlyAction === true && opts.srcPaths.length === 1 && sources.length === 1;
      ctx.source = { rel: s.rel, known: true };
      copyOne(ctx, s, opts.dest, opts.dirContentsOnly ?? true, view);
      await settle(ctx);
    }
  }
}

/** The source whose copied entries take xattrs from its tree, read (or taken) once. */
interface SourceXattrs {
  rel: string;
  /** knownXattrs may hold its tree (taken once: the trees hand each out once). */
  known: boolean;
  tree?: Promise<Map<string, Xattrs>>;
}

/**
 * Entries copied, at most, before their xattrs are written while the copy goes on: a COPY of
 * 200,000 files otherwise held a source/target pair for each until its end.
 */
const XATTRS_QUEUED = 4096;

/**
 * Copy the extended attributes of what was copied from `ctx.source` since the last flush (after
 * chown, which clears capabilities): at the end (`final`), and before it whenever XATTRS_QUEUED
 * wait (settle's copies ask). A copy of a few entries in all reads their own attributes rather
 * than the source's tree.
 */
async function flushXattrs(ctx: Ctx, final: boolean): Promise<void> {
  const { copied, source } = ctx;
  if (!copied || copied.length === 0 || source === undefined) return;
  // Taken before any await: the copy's other files go on adding to a new list meanwhile.
  ctx.copied = [];
  const rel = source.rel;
  const srcTop = rel === '' ? ctx.srcRoot : join(ctx.srcRoot, rel);
  if (source.known) {
    source.known = false;
    const known = ctx.knownXattrs?.(rel);
    if (known !== undefined) source.tree = Promise.resolve(known);
  }
  const tree =
    (source.tree === undefined && final ? await fewXattrs(copied, ctx.srcRoot, rel) : undefined) ??
    (await (source.tree ??= readXattrTree(ctx.srcRoot, rel)));
  const items: { path: string; xattrs: Xattrs }[] = [];
  for (const [src, target] of copied) {
    const under = src === srcTop ? '' : src.slice(srcTop.length + 1);
    const x = tree.get(under);
    if (!x) continue;
    const portable = Object.fromEntries(Object.entries(x).filter(([k]) => isPortableXattr(k)));
    if (Object.keys(portable).length > 0) items.push({ path: target, xattrs: portable });
  }
  if (items.length > 0) await writeXattrs(items);
}

/**
 * Source `rel`'s attribute tree, read through descriptors from the source root, no symlink
 * followed: the context may have swapped a directory for a link to the host since the copy. Gone
 * or swapped is SOURCE_CHANGED, as in the copy.
 */
async function readXattrTree(srcRoot: string, rel: string): Promise<Map<string, Xattrs>> {
  const tree = await readXattrTreeIn(srcRoot, rel).catch((err) => {
    throw isReplaced(err) ? sourceChanged(rel || '.') : err;
  });
  if (tree === undefined) throw sourceChanged(rel || '.');
  return tree;
}

/** Entries copied, at most, for which their own attributes are read rather than the whole tree's. */
const FEW_COPIED = 256;

/**
 * The attributes of the entries just copied from source `top` of `srcRoot`, keyed below `top`,
 * read one by one when they are few (an incremental COPY copies the files that changed and the
 * directories), else undefined.
 */
async function fewXattrs(
  copied: [string, string][],
  srcRoot: string,
  top: string,
): Promise<Map<string, Xattrs> | undefined> {
  if (copied.length > FEW_COPIED) return undefined;
  const srcTop = top === '' ? srcRoot : join(srcRoot, top);
  const under = copied.map(([src]) => (src === srcTop ? '' : src.slice(srcTop.length + 1)));
  const inRoot = under.map((u) => (top === '' ? u : u === '' ? top : `${top}/${u}`));
  const read = await readXattrsIn(srcRoot, inRoot);
  if (read === undefined) return undefined;
  const out = new Map<string, Xattrs>();
  for (let i = 0; i < under.length; i++) {
    const x = read.get(inRoot[i]);
    if (x !== undefined) out.set(under[i], x);
  }
  return out;
}

/** fsutil Copy() for one resolved source. */
function copyOne(ctx: Ctx, s: ExpandedSource, dest: string, dirContents: boolean, view?: FilterFS): void {
  // A trailing "/" (or "." ) makes dest itself a directory to ensure; else its parent.
  const trimmed =
    dest.endsWith('/') || dest.endsWith('/.') || dest === '.' || dest === '' ? dest : goDir(dest);
  const dirOwner = ctx.owner;
  if (trimmed !== '') mkdirAllInRoot(ctx.destRoot, trimmed, { owner: dirOwner, mtime: ctx.mtime });
  const d = resolveInRoot(ctx.destRoot, goClean(`/${dest}`), true);
  const srcAbs = s.rel === '' ? ctx.srcRoot : join(ctx.srcRoot, s.rel);
  const srcSt = changedIfGone(s.source, () => lstatSync(srcAbs));
  // A directory's files may meet each other through the mount (hard links): one file only.
  ctx.oneFile &&= srcSt.isFile();
  let destRel = d.rel;
  let destIsDir = false;
  if (d.exists) destIsDir = lstatSync(d.abs).isDirectory();
  if ((!dirContents && srcSt.isDirectory() && d.exists) || (!srcSt.isDirectory() && d.exists && destIsDir)) {
    destRel = destRel === '' ? goBase(s.source) : `${destRel}/${goBase(s.source)}`;
  }
  // A directory made here for the source's contents is new and empty, and not setgid (its mode
  // is set exactly): what the walk creates in it is fresh, as in a directory the walk made.
  const emptyDir = dirContents && srcSt.isDirectory() && !d.exists;
  if (emptyDir) {
    mkdirAllInRoot(ctx.destRoot, destRel, { owner: dirOwner, mtime: ctx.mtime });
  } else {
    mkdirAllInRoot(ctx.destRoot, goDir(`/${destRel}`), { owner: dirOwner, mtime: ctx.mtime });
  }
  // Resolve the target's parent once more (it now exists and is real); the last name is not followed.
  const parent = resolveInRoot(ctx.destRoot, goDir(`/${destRel}`), true);
  const [dir, name] = destRel === '' ? [ctx.destRoot, ''] : [parent.abs, goBase(`/${destRel}`)];
  withSourceEntry(ctx.srcRoot, s.rel, (src) =>
    copyEntry(ctx, src, srcAbs, '', s.rel, '', dir, name, false, view, undefined, false, emptyDir),
  );
}

/**
 * Run `fn` with a path that reaches source entry `rel` of `root` through a descriptor of its
 * parent directory, opened inside the root by descriptor: the entry itself may be a symlink
 * (copied as one), but nothing on the way to it can be swapped for one.
 */
function withSourceEntry(root: string, rel: string, fn: (src: string) => void): void {
  const comps = rel.split('/').filter((c) => c !== '');
  const name = comps.pop();
  if (name === undefined) {
    fn(root);
    return;
  }
  const parent = openInRoot(root, comps.join('/'));
  try {
    if (!parent.stat.isDirectory())
      throw new KilnError('SOURCE_CHANGED', `${rel} changed while kiln was reading it`);
    fn(fdPath(parent.fd, name));
  } finally {
    parent.close();
  }
}

/** What one source path of the copy names, after wildcards and links (checksum.ts's expandSources). */
function sourcesOf(opts: CopyOptions, srcPath: string, view?: FilterFS): ExpandedSource[] {
  return expandSources(opts.srcRoot, [srcPath], {
    wildcard: opts.allowWildcard ?? true,
    followSymlinks: opts.followSymlinks,
    allowEmptyWildcard: opts.allowEmptyWildcard,
    view,
    localContext: opts.localContext,
  });
}

/** Copy `--parents` sources: keep their path (after a `/./` pivot) below dest. */
async function copyWithParents(ctx: Ctx, opts: CopyOptions, srcPath: string, view?: FilterFS): Promise<void> {
  const pivot = srcPath.indexOf('/./');
  const base = pivot >= 0 ? goClean(`/${srcPath.slice(0, pivot)}`).slice(1) : '';
  const full = pivot >= 0 ? `${srcPath.slice(0, pivot)}/${srcPath.slice(pivot + 3)}` : srcPath;
  const sources = sourcesOf(opts, full, view);
  const destDir = mkdirAllInRoot(ctx.destRoot, goClean(`/${opts.dest}`), {
    owner: ctx.owner,
    mtime: ctx.mtime,
  });
  for (const s of sources) {
    if (ctx.exclude && s.wildcard && ctx.exclude.matchesOrParentMatches(goBase(s.source))) continue;
    const rel = base === '' ? s.source : s.source.slice(base.length + 1);
    if (rel === '' || rel.startsWith('../')) continue;
    // Recreate the source's parent directories below dest with their own metadata.
    const parts = rel.split('/');
    let destAbs = destDir.abs;
    for (let i = 0; i < parts.length - 1; i++) {
      const srcDir = join(opts.srcRoot, base, ...parts.slice(0, i + 1));
      destAbs = join(destAbs, parts[i]);
      const st = lstatSync(destAbs, { throwIfNoEntry: false });
      if (st && !st.isDirectory())
        throw err(
          'FILEOP_NOT_A_DIRECTORY',
          `cannot copy to non-directory: ${parts.slice(0, i + 1).join('/')}`,
        );
      if (!st) {
        const sst = changedIfGone(s.source, () => lstatSync(srcDir));
        mkdirSync(destAbs, { mode: sst.mode & 0o7777 });
        applyMeta(ctx, sst, destAbs, false);
      }
    }
    const srcAbs = join(opts.srcRoot, s.rel);
    ctx.source = { rel: s.rel, known: false };
    withSourceEntry(opts.srcRoot, s.rel, (src) =>
      copyEntry(ctx, src, srcAbs, '', s.rel, '', destAbs, parts[parts.length - 1], false, view),
    );
    await settle(ctx);
  }
}

function ownerFor(ctx: Ctx, st: EntryMeta): Owner {
  return ctx.owner ?? ctx.defaultOwner ?? { uid: st.uid, gid: st.gid };
}

/** Whoever runs kiln owns what it creates: chowning a fresh entry to that owner changes nothing. */
const SELF = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };

/**
 * Owner, mode and times of a copied entry. `fresh`: the entry was just created by this copy in a
 * directory it created too (so no setgid parent of someone else's), and a regular file already
 * carries the source's mode (copyFile sets it); then the owner and mode calls that would change
 * nothing are skipped, which on a 20,000-file COPY saves a third of a second. A fresh directory or
 * symlink is kiln's own; a fresh regular file is its source's owner's when copyFile could give it
 * that (libuv fchowns it, then sets the mode), else kiln's: the chown is skipped only when the
 * owner wanted is each of these, so it is right whichever it is.
 */
function applyMeta(
  ctx: Ctx,
  st: EntryMeta,
  target: string,
  isLink: boolean,
  src?: string,
  fresh = false,
): void {
  if (src) ctx.copied?.push([src, target]);
  const o = ownerFor(ctx, st);
  const self = o.uid === SELF.uid && o.gid === SELF.gid;
  const asSource = !st.isFile() || (o.uid === st.uid && o.gid === st.gid);
  const chowned = !(fresh && self && asSource);
  if (chowned) lchownSync(target, o.uid, o.gid);
  if (!isLink) {
    const mode = ctx.mode ? ctx.mode(st.mode & 0o7777, st.isDirectory()) : st.mode & 0o7777;
    // chown clears setuid/setgid, so a chowned file with those bits needs its mode set again.
    const modeKept = fresh && !ctx.mode && st.isFile() && (!chowned || (st.mode & 0o6000) === 0);
    if (!modeKept) chmodSync(target, mode);
  }
  const [atime, mtime] = timesOf(ctx, st);
  if (isLink) lutimesSync(target, atime, mtime);
  else utimesSync(target, atime, mtime);
}

/** A copied entry's access and modification times, in seconds. */
function timesOf(ctx: Ctx, st: EntryMeta): [number, number] {
  if (ctx.mtime) return [ctx.mtime.getTime() / 1000, ctx.mtime.getTime() / 1000];
  // A Stats' Date rounds its milliseconds; utimes takes a Date's time / 1000.
  return [Math.round(st.atimeMs) / 1000, Math.round(st.mtimeMs) / 1000];
}

/**
 * The file at `target` is replaced; a directory there is an error (fsutil ensureEmptyFileTarget).
 * True when something was there (and is now removed).
 */
function ensureEmptyFileTarget(target: string, shown: string): boolean {
  const st = lstatSync(target, { throwIfNoEntry: false });
  if (!st) return false;
  if (st.isDirectory())
    throw err(
      'FILEOP_CANNOT_REPLACE_DIR',
      `cannot replace to directory ${shown} with file`,
      'remove the directory first or copy to a different path',
    );
  unlinkSync(target);
  return true;
}

type Visibility = 'visible' | 'hidden' | 'lazy';

/**
 * Whether an entry below a copied source is copied: hidden by .dockerignore (root-relative)
 * or --exclude (source-relative); a hidden directory is still walked ('lazy', created only
 * when something below it is copied) when an exception pattern might re-include a child.
 */
function visibility(
  ctx: Ctx,
  view: FilterFS | undefined,
  rel: string,
  comps: string,
  isDir: boolean,
): Visibility {
  const byView = view !== undefined && rel !== '' && !view.allows(rel);
  const byExclude = comps !== '' && ctx.exclude?.matchesOrParentMatches(comps) === true;
  if (!byView && !byExclude) return 'visible';
  if (!isDir) return 'hidden';
  const skip =
    (!byView || view?.exclude?.canSkipExcludedDir(rel) !== false) &&
    (!byExclude || ctx.exclude?.canSkipExcludedDir(comps) !== false);
  return skip ? 'hidden' : 'lazy';
}

/**
 * fsutil copier.copy: the target, `name` in `dir` (or `dir` itself when `name` is ''), has a real
 * directory inside destRoot for parent. `src` reaches the source entry (below the top, through
 * the descriptor of its verified parent directory); `srcName` in `srcDir` (sourcePath) is its
 * plain path, kept for the deferred file copies, which verify it again.
 */
function copyEntry(
  ctx: Ctx,
  src: string,
  srcDir: string,
  srcName: string,
  srcRel: string,
  comps: string,
  dir: string,
  name: string,
  overwriteMeta: boolean,
  view?: FilterFS,
  ensureParent?: () => void,
  /** The parent was created empty by this copy: nothing can be at `target` yet. */
  fresh = false,
  /** `target` is a directory copyOne just made empty for the source's contents. */
  emptyDir = false,
): void {
  // Linked from this step's previous result (reuse.ts), the source unchanged since: an
  // incremental COPY of a 20,000-file context looks at the one file that changed, not all of them
  // (an lstat through the parent's descriptor each, ~10 µs).
  const target = targetPath(dir, name);
  if (ctx.reused?.has(target.slice(ctx.destRoot.length + 1))) return;
  const srcText = sourcePath(srcDir, srcName);
  const st = changedIfGone(srcText, () => lstatSync(src));
  const vis = visibility(ctx, view, srcRel, comps, st.isDirectory());
  if (vis === 'hidden') return;
  const shown = target.slice(ctx.destRoot.length) || '/';
  if (st.isDirectory()) {
    const existing = fresh ? undefined : lstatSync(target, { throwIfNoEntry: false });
    if (existing && !existing.isDirectory()) {
      throw err(
        'FILEOP_NOT_A_DIRECTORY',
        `cannot copy to non-directory: ${shown}`,
        'a file or symlink is in the way of a copied directory',
      );
    }
    let created = false;
    // Seen there once, it stays: only this copy writes below the target (each child of a
    // 5,000-file directory asked again, an lstat each).
    let present = existing !== undefined;
    const ensureSelf = (): void => {
      if (created || present) return;
      if (!fresh && lstatSync(target, { throwIfNoEntry: false })) {
        present = true;
        return;
      }
      ensureParent?.();
      mkdirSync(target, { mode: 0o700 });
      created = true;
    };
    if (vis === 'lazy') {
      // Only an exception below may bring it back: create it when a child is copied.
      // Created on demand: empty when made, unless it was there already (only when not fresh).
      copyChildren(ctx, src, srcText, st, srcRel, comps, target, view, ensureSelf, fresh);
      if (created) ctx.dirMeta.push(() => applyMeta(ctx, st, target, false, srcText, fresh));
      return;
    }
    if (!existing) ensureSelf();
    else if (overwriteMeta) chmodSync(target, ctx.mode ? ctx.mode(st.mode & 0o7777, true) : st.mode & 0o7777);
    const createdEmpty = created;
    copyChildren(ctx, src, srcText, st, srcRel, comps, target, view, ensureSelf, created || emptyDir);
    if (created || overwriteMeta) {
      ctx.dirMeta.push(() => applyMeta(ctx, st, target, false, srcText, fresh && createdEmpty));
    }
    return;
  }
  ensureParent?.();
  const emptied = !fresh && ensureEmptyFileTarget(target, shown);
  if (st.isFile()) {
    if ((fresh || (ctx.oneFile && !emptied)) && linkInstead(ctx, st, src, srcRel, target, fresh)) return;
    const key = `${st.dev}:${st.ino}`;
    const prev = st.nlink > 1 ? ctx.inodes.get(key) : undefined;
    // The first copy of this inode can be gone (a later source replaced its directory): then
    // this one is copied and becomes the one later links point at.
    if (prev && linkIfPresent(prev, target)) return;
    if (st.nlink > 1) {
      // Linked to by later entries, so it must exist before the walk goes on.
      copyRegular(src, st, target);
      ctx.inodes.set(key, target);
      applyMeta(ctx, st, target, false, srcText, fresh);
    } else ctx.files.push(new FileJob(srcDir, srcName, dir, name, fresh, st));
    return;
  }
  if (st.isSymbolicLink()) {
    symlinkSync(
      changedIfGone(srcText, () => readlinkSync(src)),
      target,
    );
    applyMeta(ctx, st, target, true, srcText, fresh);
    return;
  }
  if (st.isSocket()) return; // sockets are not copied (fsutil skips them)
  copySpecial(st, target, shown);
  applyMeta(ctx, st, target, false, srcText);
}

/**
 * Hard-link a source file kiln extracted itself (linkSources) when the copy would be that file
 * exactly: the owner it would get is the file's own, and no --chmod or fixed mtime changes it
 * (xattrs travel with the inode, as the copy would carry them). Copying 20,000 files and 128 MiB
 * cost seconds that a link does not. The source is never written in place afterwards (the serve
 * pool's sync replaces a shared file instead of changing it), and the committed snapshot is only
 * read: a later RUN writing to the file gets overlayfs's copy-up.
 *
 * The link is made in the upper dir, behind the overlay mount's back, so only where the mount
 * cannot have a stale answer for the name:
 * - in a directory this copy created (`fresh`): a directory of the upper dir alone, which the
 *   overlay has looked nothing up in, so a name added to it there is what a create through the
 *   mount would make;
 * - or, for a copy of one file that is its step's only action (`ctx.oneFile`), in a directory
 *   that is already a real one in the upper dir (its root, or one the copy made or copied up),
 *   when neither the mount nor the upper dir has anything at the name. The mount did look the
 *   name up (and may keep that "absent"), but nothing looks at it again before it is unmounted;
 *   the snapshot is committed from the upper dir. `COPY --from=build /app/server /server` is
 *   one link instead of a copy of the whole binary.
 */
function linkInstead(
  ctx: Ctx,
  st: Stats,
  src: string,
  srcRel: string,
  target: string,
  fresh: boolean,
): boolean {
  if ((!ctx.linkSources && !ctx.layerLinks) || ctx.mode || ctx.mtime || ctx.destUpper === undefined)
    return false;
  const o = ownerFor(ctx, st);
  if (st.uid !== o.uid || st.gid !== o.gid) return false;
  const from = ctx.linkSources ? src : ctx.layerLinks?.find(srcRel, st);
  if (from === undefined) return false;
  const rel = target.slice(ctx.destRoot.length);
  // Not fresh: the parent must be a real directory of the upper dir, reached with no symlink
  // followed, and the name free there (no file, no whiteout).
  const parent = fresh ? undefined : openParentStrict(ctx.destUpper, rel);
  if (!fresh && (parent === undefined || lstatIn(parent.dir, parent.name) !== undefined)) {
    parent?.dir.close();
    return false;
  }
  try {
    // link(2) does not follow a symlink at `from`: the private directory holds what the walk saw,
    // and a layer's file was checked to be the very inode the walk saw.
    linkSync(from, parent ? fdPath(parent.dir.fd, parent.name) : `${ctx.destUpper}${rel}`);
    return true;
  } catch (err) {
    // Another filesystem: copy from now on. Too many links (EMLINK) or a refusal: copy this one.
    if (isErrno(err, 'EXDEV')) {
      ctx.linkSources = false;
      ctx.layerLinks = undefined;
    } else if (!isErrno(err, 'EMLINK') && !isErrno(err, 'EPERM')) throw err;
    return false;
  } finally {
    parent?.dir.close();
  }
}

function linkIfPresent(prev: string, target: string): boolean {
  try {
    linkSync(prev, target);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'EPERM')) return false;
    throw err;
  }
}

/** Run a read of a source entry; an entry replaced since it was listed is SOURCE_CHANGED. */
function changedIfGone<T>(shown: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (isReplaced(e)) throw sourceChanged(shown);
    throw e;
  }
}

/**
 * The entries of source directory `src`, read through a descriptor of that very directory (the
 * one `st` describes): a directory swapped for a symlink while the copy runs is refused, never
 * read on the host.
 */
function copyChildren(
  ctx: Ctx,
  src: string,
  srcText: string,
  st: Stats,
  srcRel: string,
  comps: string,
  target: string,
  view: FilterFS | undefined,
  ensureSelf: () => void,
  /** `target` was created empty by this copy. */
  fresh: boolean,
): void {
  const dirFd = openDirVerified(src, st);
  try {
    const names = readdirSync(fdPath(dirFd)).sort();
    for (const name of names) {
      const childRel = srcRel === '' ? name : `${srcRel}/${name}`;
      const childComps = comps === '' ? name : `${comps}/${name}`;
      const childSrc = fdPath(dirFd, name);
      copyEntry(
        ctx,
        childSrc,
        srcText,
        name,
        childRel,
        childComps,
        target,
        name,
        true,
        view,
        ensureSelf,
        fresh,
      );
    }
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Copy bytes without following a symlink at the target: COPYFILE_EXCL creates it with
 * O_CREAT|O_EXCL, which fails on anything already there, a planted symlink included (the caller
 * just made the name free). The source is opened and checked to be the file `st` describes.
 */
function copyRegular(src: string, st: Stats, target: string): void {
  const f = openFileVerified(src, st);
  try {
    copyFileSync(f.path, target, constants.COPYFILE_EXCL);
  } finally {
    f.close();
  }
}

function copySpecial(st: Stats, target: string, shown: string): void {
  const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : '';
  if (type === '') throw err('FILEOP_UNSUPPORTED_TYPE', `cannot copy ${shown}: unsupported file type`);
  mknodSync(
    target,
    type,
    st.mode,
    Math.floor(st.rdev / 256) & 0xfff,
    (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
  );
}
