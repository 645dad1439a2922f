/**
 * Incremental COPY: when a COPY of a directory runs again because some of its files changed,
 * the files that did not change are hard-linked from the previous result's layer into the new
 * layer (before it is mounted) instead of being copied again; copy() then skips them. Editing one
 * file of a 20,000-file context re-copies one file, not 20,000.
 *
 * A file is reused only when its previous copy is provably current: same size and mtime as the
 * source now, and the source's ctime older than the previous copy's ctime — so the source has
 * not been written, chmodded, chowned or had its xattrs changed since it was copied (ctime is set
 * by the kernel on every such change and cannot be set back). Only regular files with one link
 * are reused; every directory on the way must still be a real directory in the source.
 * Committed snapshots are never written: a later write to a reused file goes through overlayfs,
 * which copies it up.
 */
import { join, posix } from 'node:path';
import type { PrestatStat } from '../context/prestat.ts';
import { type FilterFS, typeOf } from '../context/walk.ts';
import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync } from '../sys/fs.ts';
import { FileThread, type ThreadLink } from './file-thread.ts';

export interface ReuseOptions {
  /** The previous result's own layer directory (committed, read only here). */
  donorDir: string;
  /** The new snapshot's own layer directory (active, not yet mounted). */
  targetDir: string;
  /** The copied source directory on the host (the context, or a directory in it). */
  srcDir: string;
  /** Where that directory's contents land, relative to the rootfs (e.g. `app`; '' for /). */
  destRel: string;
  /** Root-relative path of srcDir inside the context, for .dockerignore checks ('' = root). */
  srcRel: string;
  /** The context's .dockerignore view: excluded files are never reused. */
  view?: FilterFS;
  /**
   * What the build's context walk saw at a context-relative path (the launcher's pre-stat), or
   * undefined: lstat it. The walk's numbers are what the step's cache key was made from, so the
   * files linked are the files that key describes; an lstat now costs ~5 µs a file.
   */
  known?: (ctxRel: string) => PrestatStat | undefined;
}

/** Links a batch holds, and the batches seen before a second thread is started for them. */
const LINK_BATCH = 256;
const THREAD_AFTER = 4;

/**
 * Link the unchanged files; returns their rootfs-relative paths (copy() skips exactly these).
 * The links go in batches: to a second thread (file-thread.ts) while it is ready for one, else
 * made here. A link is ~14 µs of the kernel's time and the walk's lstats ~5 µs a file:
 * 20,016 links on the main thread alone took ~0.29 s of an incremental W1's ~0.47 s COPY.
 */
export async function linkUnchanged(opts: ReuseOptions): Promise<Set<string>> {
  const linked = new Set<string>();
  const mirrored = new Set<string>();
  const start = opts.destRel === '' ? opts.donorDir : join(opts.donorDir, opts.destRel);
  if (!isRealDir(start) || !isRealDir(opts.srcDir)) return linked;
  let batch: Link[] = [];
  let batches = 0;
  let thread: Promise<FileThread> | undefined;
  const sent: Promise<void>[] = [];
  let failed: unknown;
  const flush = async (): Promise<void> => {
    const links = batch;
    batch = [];
    if (links.length === 0) return;
    if (++batches === THREAD_AFTER) thread = FileThread.start();
    const t = thread && (await thread);
    if (t?.ready && failed === undefined) {
      const done = t.link(links).then(
        () => {
          for (const l of links) linked.add(l.destRel);
        },
        (err: unknown) => {
          failed ??= err;
        },
      );
      sent.push(done);
    } else {
      for (const l of links) {
        linkSync(l.from, l.target);
        linked.add(l.destRel);
      }
    }
    // The thread's answers come in between batches.
    if (t) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const walk = async (rel: string): Promise<void> => {
    const donorAbs = rel === '' ? start : join(start, rel);
    for (const name of readdirSync(donorAbs)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const ctxRel = opts.srcRel === '' ? childRel : `${opts.srcRel}/${childRel}`;
      if (opts.view && !opts.view.allows(ctxRel)) continue;
      // Number stats (BigInt ones allocate eighteen BigInts a file): a double's time is exact to
      // ~0.2 µs, and rounding is monotonic, so a ctime it cannot order compares equal (not reused).
      const donor = lstatSync(join(start, childRel));
      const src = opts.known?.(ctxRel) ?? lstatSync(join(opts.srcDir, childRel), { throwIfNoEntry: false });
      if (!src) continue;
      const srcType = typeOf(src.mode);
      if (donor.isDirectory()) {
        if (srcType === 'dir') await walk(childRel);
        continue;
      }
      if (!donor.isFile() || srcType !== 'file' || src.nlink !== 1) continue;
      if (donor.size !== src.size || roundMs(donor.mtimeMs) !== roundMs(src.mtimeMs)) continue;
      if (src.ctimeMs >= donor.ctimeMs) continue;
      const destRel = opts.destRel === '' ? childRel : `${opts.destRel}/${childRel}`;
      // Made here, before any link into it is asked for.
      mirrorDirs(opts.donorDir, opts.targetDir, posix.dirname(destRel), mirrored);
      batch.push({ from: join(start, childRel), target: join(opts.targetDir, destRel), destRel });
      if (batch.length >= LINK_BATCH) await flush();
    }
  };
  try {
    await walk('');
    await flush();
  } finally {
    // Nothing links into the snapshot after this returns (or throws).
    await Promise.all(sent);
    await (await thread?.catch(() => undefined))?.close();
  }
  if (failed !== undefined) throw failed;
  return linked;
}

/** A link the walk decided on. */
interface Link extends ThreadLink {
  /** The target's rootfs-relative path. */
  destRel: string;
}

/**
 * Create `rel`'s directories in the target with the donor's owner and mode. A directory of the
 * upper layer shows its own metadata in the merged view, so it must match what a copy-up of the
 * base's directory (which the donor holds) would have given; copy() then sets the metadata of
 * every directory it copies anyway. `done` remembers the directories already there, so a
 * directory of many linked files is checked once, not once per file.
 */
function mirrorDirs(donorDir: string, targetDir: string, rel: string, done: Set<string>): void {
  if (rel === '.' || rel === '' || done.has(rel)) return;
  const target = join(targetDir, rel);
  if (!lstatSync(target, { throwIfNoEntry: false })) {
    mirrorDirs(donorDir, targetDir, posix.dirname(rel), done);
    const st = lstatSync(join(donorDir, rel));
    mkdirSync(target);
    lchownSync(target, st.uid, st.gid);
    chmodSync(target, st.mode & 0o7777);
  }
  done.add(rel);
}

/**
 * copy() sets mtimes from a Date (Math.round of the source's mtimeMs, as here), stored back with
 * float noise.
 */
function roundMs(ms: number): number {
  return Math.round(ms);
}

function isRealDir(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}
