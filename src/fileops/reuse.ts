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
import type { FilterFS } from '../context/walk.ts';
import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync } from '../sys/fs.ts';

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
}

/** Link the unchanged files; returns their rootfs-relative paths (copy() skips exactly these). */
export function linkUnchanged(opts: ReuseOptions): Set<string> {
  const linked = new Set<string>();
  const mirrored = new Set<string>();
  const start = opts.destRel === '' ? opts.donorDir : join(opts.donorDir, opts.destRel);
  if (!isRealDir(start) || !isRealDir(opts.srcDir)) return linked;
  const walk = (rel: string): void => {
    const donorAbs = rel === '' ? start : join(start, rel);
    for (const name of readdirSync(donorAbs)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const ctxRel = opts.srcRel === '' ? childRel : `${opts.srcRel}/${childRel}`;
      if (opts.view && !opts.view.allows(ctxRel)) continue;
      const donor = lstatSync(join(start, childRel), { bigint: true });
      const src = lstatSync(join(opts.srcDir, childRel), { bigint: true, throwIfNoEntry: false });
      if (!src) continue;
      if (donor.isDirectory()) {
        if (src.isDirectory()) walk(childRel);
        continue;
      }
      if (!donor.isFile() || !src.isFile() || src.nlink !== 1n) continue;
      if (donor.size !== src.size || roundMs(donor.mtimeNs) !== roundMs(src.mtimeNs)) continue;
      if (src.ctimeNs >= donor.ctimeNs) continue;
      const destRel = opts.destRel === '' ? childRel : `${opts.destRel}/${childRel}`;
      mirrorDirs(opts.donorDir, opts.targetDir, posix.dirname(destRel), mirrored);
      linkSync(join(start, childRel), join(opts.targetDir, destRel));
      linked.add(destRel);
    }
  };
  walk('');
  return linked;
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

/** copy() sets mtimes from a Date (whole milliseconds, rounded), stored back with float noise. */
function roundMs(ns: bigint): bigint {
  return (ns + 500_000n) / 1_000_000n;
}

function isRealDir(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}
