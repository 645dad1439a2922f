/**
 * The small file ops — mkdir (WORKDIR), mkfile, rm, symlink — on a destination root, with
 * BuildKit's semantics and root-confined path resolution (symlinks re-rooted, never escaping).
 */

import { join } from 'node:path';
import { resolveInRoot } from '../confine/resolve.ts';
import { resolveWildcards } from '../context/resolve.ts';
import { KilnError } from '../errors/errors.ts';
import { goBase, goClean, goDir } from '../frontend/dockerignore/index.ts';
import {
  chmodSync,
  closeSync,
  constants,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from '../sys/fs.ts';
import { mkdirAllInRoot } from './dest.ts';
import { type ChownSpec, type Owner, resolveChown } from './user.ts';

function ownerOf(root: string, chown?: ChownSpec | Owner): Owner | undefined {
  if (!chown) return undefined;
  return 'uid' in chown ? chown : resolveChown(root, chown);
}

/** The real parent directory of `p` inside root (must exist) and the final name, unfollowed. */
function parentAndBase(root: string, p: string, what: string): { dir: string; base: string } {
  const clean = goClean(`/${p}`);
  if (clean === '/') throw new KilnError('FILEOP_INVALID_PATH', `${what}: invalid path "${p}"`);
  const parent = resolveInRoot(root, goDir(clean), true);
  if (!parent.exists || !lstatSync(parent.abs).isDirectory()) {
    throw new KilnError('FILEOP_PARENT_MISSING', `${what} ${clean}: parent directory does not exist`, {
      hint: 'create the parent directory first',
    });
  }
  return { dir: parent.abs, base: goBase(clean) };
}

export interface MkdirOptions {
  /** Default 0755. */
  mode?: number;
  makeParents?: boolean;
  chown?: ChownSpec | Owner;
  mtime?: Date;
}

/** mkdir (and WORKDIR with makeParents): an existing directory is not an error. */
export function mkdir(destRoot: string, path: string, opts: MkdirOptions = {}): void {
  const mode = (opts.mode ?? 0o755) & 0o7777;
  const owner = ownerOf(destRoot, opts.chown);
  if (opts.makeParents) {
    mkdirAllInRoot(destRoot, goClean(`/${path}`), { mode, owner, mtime: opts.mtime });
    return;
  }
  const r = resolveInRoot(destRoot, path, true);
  if (r.exists) {
    if (!lstatSync(r.abs).isDirectory())
      throw new KilnError('FILEOP_NOT_A_DIRECTORY', `mkdir ${path}: a file exists there`);
    return;
  }
  if (r.missing.length > 1) {
    throw new KilnError('FILEOP_PARENT_MISSING', `mkdir ${path}: parent directory does not exist`, {
      hint: 'use makeParents (mkdir -p)',
    });
  }
  mkdirSync(r.abs, { mode });
  chmodSync(r.abs, mode);
  if (owner) lchownSync(r.abs, owner.uid, owner.gid);
  if (opts.mtime) utimesSync(r.abs, opts.mtime, opts.mtime);
}

/** WORKDIR: mkdir -p with mode 0755, owned by `chown` (BuildKit uses the current USER). */
export function workdir(
  destRoot: string,
  path: string,
  opts: { chown?: ChownSpec | Owner; mtime?: Date } = {},
): void {
  mkdir(destRoot, path, { mode: 0o755, makeParents: true, ...opts });
}

export interface MkfileOptions {
  /** Default 0644. */
  mode?: number;
  chown?: ChownSpec | Owner;
  mtime?: Date;
}

/** Write `data` to `path` (replacing a file; symlinks on the way are followed inside the root). */
export function mkfile(
  destRoot: string,
  path: string,
  data: string | Uint8Array,
  opts: MkfileOptions = {},
): void {
  const mode = (opts.mode ?? 0o644) & 0o7777;
  const owner = ownerOf(destRoot, opts.chown);
  const r = resolveInRoot(destRoot, path, true);
  if (!r.exists && r.missing.length > 1) {
    throw new KilnError('FILEOP_PARENT_MISSING', `mkfile ${path}: parent directory does not exist`, {
      hint: 'create the directory first',
    });
  }
  const fd = openSync(
    r.abs,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    mode,
  );
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    closeSync(fd);
  }
  chmodSync(r.abs, mode);
  if (owner) lchownSync(r.abs, owner.uid, owner.gid);
  if (opts.mtime) utimesSync(r.abs, opts.mtime, opts.mtime);
}

export interface RmOptions {
  allowNotFound?: boolean;
  allowWildcard?: boolean;
}

/** rm -rf of `path` (the last component is removed itself, never followed). */
export function rm(destRoot: string, path: string, opts: RmOptions = {}): void {
  const paths = opts.allowWildcard ? resolveWildcards(destRoot, path, false) : [path];
  for (const p of paths) {
    const clean = goClean(`/${p}`);
    if (clean === '/') throw new KilnError('FILEOP_INVALID_PATH', 'rm: refusing to remove the root');
    const parent = resolveInRoot(destRoot, goDir(clean), true);
    const target = parent.exists ? join(parent.abs, goBase(clean)) : undefined;
    if (!target || !lstatSync(target, { throwIfNoEntry: false })) {
      if (opts.allowNotFound) continue;
      throw new KilnError('FILEOP_NOT_FOUND', `rm ${clean}: no such file or directory`);
    }
    rmSync(target, { recursive: true, force: true });
  }
}

export interface SymlinkOptions {
  chown?: ChownSpec | Owner;
  mtime?: Date;
}

/** Create a symlink `newpath` → `oldpath` (the target text is stored as given). */
export function symlink(destRoot: string, oldpath: string, newpath: string, opts: SymlinkOptions = {}): void {
  const { dir, base } = parentAndBase(destRoot, newpath, 'symlink');
  const at = join(dir, base);
  symlinkSync(oldpath, at);
  const owner = ownerOf(destRoot, opts.chown);
  if (owner) lchownSync(at, owner.uid, owner.gid);
  if (opts.mtime) lutimesSync(at, opts.mtime, opts.mtime);
}
