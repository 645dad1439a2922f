/**
 * Walking a build context the way BuildKit's fsutil does: depth-first, a directory before its
 * entries, entries sorted byte-wise, with exclude patterns (.dockerignore) and include patterns
 * (COPY sources) layered as filters. Excluded directories are skipped unless an exception could
 * re-include something below them; parents of included entries are emitted lazily.
 */
import { join } from 'node:path';
import { sourceChanged } from '../confine/fd.ts';
import { isErrno, KilnError } from '../errors/errors.ts';
import { EMPTY_MATCH_INFO, type MatchInfo, PatternMatcher } from '../frontend/dockerignore/patternmatcher.ts';
import { lstatSync, readdirSync, readlinkSync } from '../sys/fs.ts';
import { sortNames } from '../sys/fsname.ts';
import { dedupePaths, followLinks } from './follow.ts';
import { type Listing, PRESTAT_AT, PRESTAT_FIELDS, prestatFor } from './prestat.ts';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

/** One filesystem entry, relative to the walked root (`/`-separated, no leading `/`). */
export interface WalkEntry {
  path: string;
  type: EntryType;
  /** Full st_mode (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** mtime in whole microseconds (exact in a double until the year 2255). */
  mtimeUs: number;
  ino: number;
  dev: number;
  nlink: number;
  /**
   * ctime in whole microseconds, when the walk's own lstat read it (not from the pre-stat's
   * listings, which only build contexts have): what a snapshot file's digest is cached under
   * (inodedigests.ts), as no one can set it.
   */
  ctimeUs?: number;
  /** Birth time in whole microseconds (0: the filesystem keeps none), read with ctimeUs. */
  btimeUs?: number;
  /** Symlink target, as stored. */
  linkTarget?: string;
  /** Read by the launcher's pre-stat, a moment before the walk (prestat.ts). */
  prestat?: true;
}

/** Return 'skip' to not descend into a directory, or (for a non-directory) to skip its remaining siblings (Go's SkipDir). */
export type WalkFn = (path: string, entry: WalkEntry, err?: Error) => 'skip' | undefined;

/** Something that can be walked, like fsutil's FS. */
export interface WalkFS {
  walk(target: string, fn: WalkFn): void;
  /** The same walk, taken a few entries at a time (see Walker). */
  walker(target: string, fn: WalkFn): Walker;
}

/**
 * A walk in steps: each `step(n)` visits up to `n` more entries (fewer once `enough()`, asked after
 * each, says so) and says whether the walk is over, so that a long walk (a big context's checksum)
 * can let other work run between its steps.
 */
export interface Walker {
  step(n: number, enough?: () => boolean): boolean;
}

/** Walk all of it at once. */
export function walkAll(w: Walker): void {
  while (!w.step(Number.POSITIVE_INFINITY)) {
    // one step takes everything
  }
}

export interface FilterOptions {
  includePatterns?: readonly string[];
  excludePatterns?: readonly string[];
  /** Symlinks matching these are followed; their in-root targets are included too. */
  followPaths?: readonly string[];
}

/** The walk's type of an entry from its st_mode. */
export function typeOf(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** lstat `abs` into a WalkEntry named `rel`. */
export function statEntry(abs: string, rel: string): WalkEntry {
  // Number stats, not BigInt ones (which allocate eighteen BigInts per file: a warm build of a
  // 20,000-file context spent more time collecting them than in lstat). mtime keeps microseconds,
  // which is all the digest cache needs: it never trusts a file written in the last 100 ms.
  // Inode numbers are exact as doubles below 2^53.
  const st = lstatSync(abs);
  const type = typeOf(st.mode);
  const e: WalkEntry = {
    path: rel,
    type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeUs: Math.round(st.mtimeMs * 1000),
    ino: st.ino,
    dev: st.dev,
    nlink: st.nlink,
    ctimeUs: Math.round(st.ctimeMs * 1000),
    btimeUs: st.birthtimeMs > 0 ? Math.round(st.birthtimeMs * 1000) : 0,
  };
  return withLinkTarget(e, abs);
}

/** `e` with its symlink's target read (when it is one). */
function withLinkTarget(e: WalkEntry, abs: string): WalkEntry {
  if (e.type !== 'symlink') return e;
  try {
    e.linkTarget = readlinkSync(abs);
  } catch (err) {
    // No longer a symlink since the lstat (ENOENT, gone, is the caller's to skip).
    if (isErrno(err, 'EINVAL')) throw sourceChanged(e.path);
    throw err;
  }
  return e;
}

class SkipSiblings extends Error {}

/** The unfiltered directory: fsutil's `NewFS(root)`. */
export class DirFS implements WalkFS {
  readonly root: string;
  /** `root/`: child paths are appended to it (a walk joins tens of thousands; path.join is slow). */
  readonly prefix: string;
  constructor(root: string) {
    this.root = root;
    this.prefix = root.endsWith('/') ? root : `${root}/`;
  }

  walk(target: string, fn: WalkFn): void {
    walkAll(this.walker(target, fn));
  }

  walker(target: string, fn: WalkFn): Walker {
    const rel = target.replace(/^\/+|\/+$/g, '');
    if (rel === '' || rel === '.') return new DirWalker(this, fn);
    let entry: WalkEntry;
    try {
      entry = statEntry(join(this.root, rel), rel);
    } catch (err) {
      throw new KilnError('CONTEXT_WALK', `cannot stat ${rel} in ${this.root}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new DirWalker(this, fn, entry);
  }
}

/** A directory being walked: its names in walk order, the next one to visit. */
interface Frame {
  rel: string;
  names: string[];
  /** The launcher's pre-stat of it, when it had one (prestat.ts). */
  pre?: Listing;
  next: number;
}

/**
 * DirFS's walk, depth-first with an explicit stack: a directory's entry is visited, then what is
 * in it, in sorted order, before its next sibling (fsutil's order).
 */
class DirWalker implements Walker {
  private readonly fs: DirFS;
  private readonly fn: WalkFn;
  private readonly stack: Frame[] = [];
  /** The target itself when it is not the root: visited first. */
  private first?: WalkEntry;

  constructor(fs: DirFS, fn: WalkFn, first?: WalkEntry) {
    this.fs = fs;
    this.fn = fn;
    this.first = first;
    if (!first) this.enter('');
  }

  step(n: number, enough?: () => boolean): boolean {
    const first = this.first;
    if (first) {
      this.first = undefined;
      n--;
      if (this.fn(first.path, first) === 'skip') {
        // Go's SkipDir from a file: its siblings are skipped, and it has no directory here to end.
        if (first.type !== 'dir') throw new SkipSiblings();
      } else if (first.type === 'dir') this.enter(first.path, first);
    }
    const { prefix } = this.fs;
    while (n > 0) {
      const f = this.stack[this.stack.length - 1];
      if (f === undefined) return true;
      if (f.next >= f.names.length) {
        this.stack.pop();
        continue;
      }
      const i = f.next++;
      const childRel = f.rel === '' ? f.names[i] : `${f.rel}/${f.names[i]}`;
      let entry: WalkEntry;
      try {
        // A name the pre-stat could not lstat (NaN mode) is lstat'ed now.
        entry =
          f.pre && !Number.isNaN(f.pre.st[i * PRESTAT_FIELDS + PRESTAT_AT.mode])
            ? listedEntry(prefix + childRel, childRel, f.pre.st, i)
            : statEntry(prefix + childRel, childRel);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while walking
        // The directory being walked is no longer one (replaced by a file while walking).
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw sourceChanged(prefix + childRel);
        throw err;
      }
      n--;
      if (this.fn(entry.path, entry) === 'skip') {
        // Not into this directory; from a file, none of its remaining siblings either.
        if (entry.type !== 'dir') this.stack.pop();
        continue;
      }
      if (entry.type === 'dir') this.enter(entry.path, entry);
      if (enough?.()) break;
    }
    return this.stack.length === 0 && this.first === undefined;
  }

  /** Start on directory `rel` (its listing now: the pre-stat's, or read here). */
  private enter(rel: string, self?: WalkEntry): void {
    const fs = this.fs;
    // Listed and lstat'ed by the launcher's pre-stat while kiln started (prestat.ts), if it was.
    const pre = prestatFor(fs.root)?.listing(rel);
    let names: string[];
    if (pre) names = pre.names;
    else {
      try {
        names = readdirSync(rel === '' ? fs.root : fs.prefix + rel);
      } catch (err) {
        if (!self) throw err;
        // Report the failure to the callback (Go's WalkDir calls fn a second time with the error).
        if (this.fn(rel, self, err as Error) === 'skip') return;
        throw err;
      }
      sortNames(names);
    }
    this.stack.push({ rel, names, pre, next: 0 });
  }
}

/** A WalkEntry from the pre-stat's numbers for `names[i]` (prestat.ts PRESTAT_FIELDS). */
function listedEntry(abs: string, rel: string, st: Float64Array, i: number): WalkEntry {
  const o = i * PRESTAT_FIELDS;
  const mode = st[o + PRESTAT_AT.mode];
  const type = typeOf(mode);
  const e: WalkEntry = {
    path: rel,
    type,
    mode,
    uid: st[o + PRESTAT_AT.uid],
    gid: st[o + PRESTAT_AT.gid],
    size: st[o + PRESTAT_AT.size],
    mtimeUs: Math.round(st[o + PRESTAT_AT.mtimeMs] * 1000),
    ino: st[o + PRESTAT_AT.ino],
    dev: st[o + PRESTAT_AT.dev],
    nlink: st[o + PRESTAT_AT.nlink],
    prestat: true,
  };
  return withLinkTarget(e, abs);
}

interface VisitedDir {
  entry: WalkEntry;
  pathWithSep: string;
  includeInfo: MatchInfo;
  excludeInfo: MatchInfo;
  calledFn: boolean;
  skipFn: boolean;
  skippedByFn?: boolean;
}

/** fsutil's filterFS: include/exclude patterns applied to another WalkFS. */
export class FilterFS implements WalkFS {
  readonly inner: WalkFS;
  readonly include?: PatternMatcher;
  readonly exclude?: PatternMatcher;

  constructor(inner: WalkFS, opts: FilterOptions & { root?: string }) {
    this.inner = inner;
    let includes = opts.includePatterns ? [...opts.includePatterns] : undefined;
    if (opts.followPaths && opts.followPaths.length > 0) {
      const root = opts.root ?? (inner instanceof DirFS ? inner.root : undefined);
      if (root === undefined)
        throw new KilnError('CONTEXT_FOLLOW_PATHS', 'followPaths needs a directory root');
      const targets = followLinks(root, opts.followPaths);
      if (targets) includes = dedupePaths([...(includes ?? []), ...targets].sort());
    }
    if (includes && includes.length > 0) this.include = new PatternMatcher(includes);
    if (opts.excludePatterns && opts.excludePatterns.length > 0)
      this.exclude = new PatternMatcher(opts.excludePatterns);
  }

  /** Whether `path` passes this filter (fsutil's filtered Open). */
  allows(path: string): boolean {
    if (this.include && !this.include.matchesOrParentMatches(path)) return false;
    if (this.exclude?.matchesOrParentMatches(path)) return false;
    return true;
  }

  walk(target: string, fn: WalkFn): void {
    this.inner.walk(target, this.filtered(fn));
  }

  walker(target: string, fn: WalkFn): Walker {
    return this.inner.walker(target, this.filtered(fn));
  }

  /** `fn` behind this filter, for one walk of the inner FS (it keeps that walk's parents). */
  private filtered(fn: WalkFn): WalkFn {
    // No patterns: every entry passes and no parent is held back (a context without a
    // .dockerignore, walked whole on every build).
    if (!this.include && !this.exclude) return fn;
    const parents: VisitedDir[] = [];
    return (path, entry, walkErr) => {
      if (walkErr) {
        // A directory we could not read: ignore it when the filter hides it anyway.
        const self = parents.find((p) => p.entry.path === path);
        if (self?.skipFn) return 'skip';
        return fn(path, entry, walkErr);
      }
      while (parents.length > 0 && !path.startsWith(parents[parents.length - 1].pathWithSep)) parents.pop();
      // The callback asked to skip a lazily emitted parent: everything below it is skipped.
      if (parents.some((p) => p.skippedByFn)) return 'skip';
      const parent = parents[parents.length - 1];
      const isDir = entry.type === 'dir';
      const dir: VisitedDir | undefined = isDir
        ? {
            entry,
            pathWithSep: `${path}/`,
            includeInfo: EMPTY_MATCH_INFO,
            excludeInfo: EMPTY_MATCH_INFO,
            calledFn: false,
            skipFn: false,
          }
        : undefined;
      let skipFn = false;
      if (this.include) {
        const r = this.include.matchesUsingParentResults(
          path,
          parent ? parent.includeInfo : EMPTY_MATCH_INFO,
        );
        if (dir) dir.includeInfo = r.info;
        if (!r.matched) {
          if (isDir && this.include.canSkipUnincludedDir(path)) return 'skip';
          if (!isDir) return undefined;
          skipFn = true;
        }
      }
      if (this.exclude) {
        const r = this.exclude.matchesUsingParentResults(
          path,
          parent ? parent.excludeInfo : EMPTY_MATCH_INFO,
        );
        if (dir) dir.excludeInfo = r.info;
        if (r.matched) {
          if (isDir && this.exclude.canSkipExcludedDir(path)) return 'skip';
          if (!isDir) return undefined;
          skipFn = true;
        }
      }
      if (dir) {
        dir.skipFn = skipFn;
        parents.push(dir);
      }
      if (skipFn) return undefined;
      // Lazily emit the parents that were held back because they did not match themselves.
      for (const p of parents) {
        if (p === dir || p.calledFn) continue;
        p.calledFn = true;
        if (fn(p.entry.path, p.entry) === 'skip') {
          p.skippedByFn = true;
          return 'skip';
        }
      }
      const r = fn(path, entry);
      if (dir) dir.calledFn = true;
      return r;
    };
  }
}

/** `root` as the build sees it through its .dockerignore patterns; undefined when there are none. */
export function excludeView(root: string, patterns: readonly string[] | undefined): FilterFS | undefined {
  return patterns?.length ? new FilterFS(new DirFS(root), { excludePatterns: patterns, root }) : undefined;
}

/** Walk `root` with filters, returning the entries in walk order. */
export function walkContext(root: string, opts: FilterOptions = {}, target = ''): WalkEntry[] {
  const fs = new FilterFS(new DirFS(root), { ...opts, root });
  const out: WalkEntry[] = [];
  fs.walk(target, (_path, entry, err) => {
    if (err)
      throw new KilnError('CONTEXT_WALK', `cannot read ${entry.path} in ${root}: ${err.message}`, {
        cause: err,
      });
    out.push(entry);
    return undefined;
  });
  return out;
}
