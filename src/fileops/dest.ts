/**
 * Creating directories under a hostile root: every step resolves what exists with the
 * root-confined resolver (symlinks re-rooted, `..` clamped) and creates one missing component
 * inside a directory that lstat has shown to be real, so nothing is ever written outside.
 */
import { join } from 'node:path';
import { type Resolved, resolveInRoot } from '../confine/resolve.ts';
import { KilnError } from '../errors/errors.ts';
import { chmodSync, chownSync, lstatSync, mkdirSync, utimesSync } from '../sys/fs.ts';
import type { Owner } from './user.ts';

export interface MkdirAllOptions {
  /** Mode of created directories (default 0755). */
  mode?: number;
  /** Owner of created directories (default: the process's, i.e. root). */
  owner?: Owner;
  /** mtime of created directories (default: now). */
  mtime?: Date;
}

function notDir(p: string): KilnError {
  return new KilnError('FILEOP_NOT_A_DIRECTORY', `${p}: not a directory`, {
    hint: 'a file or symlink to a file is in the way of a directory this step needs to create',
  });
}

/** Make `p` (and missing parents) a directory under `root`; returns its resolution. Existing dirs are left as they are. */
export function mkdirAllInRoot(root: string, p: string, opts: MkdirAllOptions = {}): Resolved {
  for (let guard = 0; guard < 4096; guard++) {
    const r = resolveInRoot(root, p, true);
    if (r.exists) {
      if (!lstatSync(r.abs).isDirectory()) throw notDir(p);
      return r;
    }
    const parent = r.existingRel === '' ? root : join(root, r.existingRel);
    if (!lstatSync(parent).isDirectory()) throw notDir(p);
    const created = join(parent, r.missing[0]);
    mkdirSync(created, { mode: opts.mode ?? 0o755 });
    applyDirMeta(created, opts);
  }
  throw new KilnError('FILEOP_PATH_LOOP', `cannot create ${p}: the path does not settle (symlink loop?)`);
}

function applyDirMeta(abs: string, opts: MkdirAllOptions): void {
  if (opts.owner) chownSync(abs, opts.owner.uid, opts.owner.gid);
  // mkdir's mode is filtered by the umask; set it exactly.
  chmodSync(abs, opts.mode ?? 0o755);
  if (opts.mtime) utimesSync(abs, opts.mtime, opts.mtime);
}
