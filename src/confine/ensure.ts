/**
 * Creating paths inside a root and removing them again, by descriptor: what kiln creates (mount
 * points, working directories) is recorded by device and inode, and removal finds it again
 * without following any symlink and only when it is still that very entry — a container that ran
 * in between may have replaced any part of the path (the pattern of CVE-2024-23652).
 */
import { isErrno, KilnError } from '../errors/errors.ts';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
} from '../sys/fs.ts';
import { FdWalker, fdPath, type Held, lstatIn, O_PATH, openParentStrict } from './fd.ts';
import { walkInRoot } from './resolve.ts';

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW, O_DIRECTORY } = constants;

/** One entry ensureInRoot created. */
export interface CreatedEntry {
  /** Root-relative components. */
  comps: string[];
  dev: number;
  ino: number;
  dir: boolean;
  /** The parent's atime and mtime (ms) before the creation, and its mtime right after. */
  parentAtimeMs: number;
  parentMtimeMs: number;
  parentMtimeAfterMs: number;
}

/**
 * Make sure `p` exists inside `root` as a directory (or, with kind 'file', its last component as
 * an empty file), creating missing components one by one (0755 directories, 0644 file) inside
 * directories held open, never following a symlink out of the root. Returns the entry, held open
 * (the caller closes it), and what was created, outermost first.
 */
export function ensureInRoot(
  root: string,
  p: string,
  kind: 'dir' | 'file',
): { held: Held; created: CreatedEntry[] } {
  const w = walkInRoot(new FdWalker(root), p);
  let dir = w.handle;
  if (w.kind === 'other' && w.missing.length > 0) {
    closeSync(dir);
    throw new KilnError('PATH_NOT_DIRECTORY', `${p}: ${w.comps.join('/')} in the root is not a directory`, {
      hint: 'a mount target or working directory cannot be below a file',
    });
  }
  const comps = [...w.comps];
  const created: CreatedEntry[] = [];
  try {
    for (let i = 0; i < w.missing.length; i++) {
      const name = w.missing[i];
      const last = i === w.missing.length - 1;
      const before = fstatSync(dir);
      try {
        if (last && kind === 'file') {
          // O_EXCL|O_NOFOLLOW: never write through something that appeared meanwhile.
          closeSync(openSync(fdPath(dir, name), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o644));
        } else {
          mkdirSync(fdPath(dir, name), 0o755);
        }
      } catch (err) {
        if (isErrno(err, 'EEXIST')) {
          throw new KilnError(
            'PATH_NOT_DIRECTORY',
            `${p}: ${[...comps, name].join('/')} in the root is not a directory`,
            { hint: 'a mount target or working directory cannot be below a file', cause: err },
          );
        }
        throw err;
      }
      const fd = openSync(
        fdPath(dir, name),
        O_PATH | O_NOFOLLOW | (last && kind === 'file' ? 0 : O_DIRECTORY),
      );
      const st = fstatSync(fd);
      const after = fstatSync(dir);
      closeSync(dir);
      dir = fd;
      comps.push(name);
      created.push({
        comps: [...comps],
        dev: st.dev,
        ino: st.ino,
        dir: st.isDirectory(),
        parentAtimeMs: before.atimeMs,
        parentMtimeMs: before.mtimeMs,
        parentMtimeAfterMs: after.mtimeMs,
      });
    }
  } catch (err) {
    closeSync(dir);
    throw err;
  }
  const st = fstatSync(dir);
  let open = true;
  const held: Held = {
    fd: dir,
    comps,
    stat: st,
    path: fdPath(dir),
    close: () => {
      if (open) closeSync(dir);
      open = false;
    },
  };
  if (w.missing.length === 0 && kind === 'dir' && !st.isDirectory() && comps.length > 0) {
    // An existing file where a directory is wanted: say so here rather than at mount time.
    held.close();
    throw new KilnError('PATH_NOT_DIRECTORY', `${p}: ${comps.join('/')} in the root is not a directory`, {
      hint: 'a mount target or working directory cannot be a file',
    });
  }
  return { held, created };
}

/**
 * Remove `entry` if it is still the empty directory or empty file kiln created: found again
 * without following any symlink, with the same device and inode. Returns the directory that held
 * it (open; the caller closes it) when it was removed, else undefined.
 */
export function removeIfUnchanged(root: string, entry: CreatedEntry): Held | undefined {
  const found = openParentStrict(root, entry.comps.join('/'));
  if (!found) return undefined;
  const { dir, name } = found;
  const st = lstatIn(dir, name);
  if (!st || st.dev !== entry.dev || st.ino !== entry.ino || st.isDirectory() !== entry.dir) {
    dir.close();
    return undefined;
  }
  try {
    if (entry.dir) {
      // /proc/self/fd/N/name: `name` is looked up in the directory we hold; it is our inode (above).
      if (readdirSync(fdPath(dir.fd, name)).length > 0) {
        dir.close();
        return undefined;
      }
      rmdirSync(fdPath(dir.fd, name));
    } else {
      if (st.size !== 0 || !st.isFile()) {
        dir.close();
        return undefined;
      }
      unlinkSync(fdPath(dir.fd, name));
    }
  } catch (err) {
    dir.close();
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTEMPTY')) return undefined;
    throw err;
  }
  return dir;
}
