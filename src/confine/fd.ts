/**
 * Resolution by file descriptor, for roots that can change while kiln works in them (a build
 * context on the host, a rootfs a container has just run in, a shared cache directory). Each
 * component is opened O_PATH|O_NOFOLLOW relative to the descriptor of its directory (through
 * /proc/self/fd, Node having no openat), so a name swapped for a symlink between two steps is seen
 * as a symlink and resolved inside the root, never followed on the host. The work is then done on
 * the final descriptor or on a name inside a held directory, never on a path looked up again.
 */
import { isErrno, KilnError } from '../errors/errors.ts';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  O_PATH,
  openSync,
  readFileSync,
  readlinkSync,
  type Stats,
} from '../sys/fs.ts';
import { showName } from '../sys/fsname.ts';
import { cleanComponents, type Step, type Walker, type WalkOptions, walkInRoot } from './resolve.ts';

export { O_PATH };

const { O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC } = constants as typeof constants & { O_CLOEXEC?: number };
const PATH_FLAGS = O_PATH | O_NOFOLLOW | (O_CLOEXEC ?? 0o2000000);

/** The path that reaches what `fd` holds (and `name` inside it, when it is a directory). */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** A descriptor-backed walker: handles are O_PATH descriptors. */
export class FdWalker implements Walker<number> {
  readonly rootPath: string;
  constructor(rootPath: string) {
    this.rootPath = rootPath;
  }

  root(): number {
    // The root itself is the caller's (kiln's root, or the context the user named): open it as given.
    return openSync(this.rootPath, O_PATH | O_DIRECTORY | (O_CLOEXEC ?? 0o2000000));
  }

  step(dir: number, _at: readonly string[], name: string, retries = 0): Step<number> {
    let fd: number;
    try {
      fd = openSync(fdPath(dir, name), PATH_FLAGS);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return { kind: 'missing' };
      throw err;
    }
    const st = fstatSync(fd);
    if (st.isSymbolicLink()) {
      closeSync(fd);
      // readlink never follows the last name; the directory is the one we hold. The name may have
      // been replaced since the open (EINVAL: no longer a link): look at it again.
      try {
        return { kind: 'link', target: readlinkSync(fdPath(dir, name)) };
      } catch (err) {
        if (!isReplaced(err)) throw err;
        if (retries >= 3) throw sourceChanged([..._at, name].join('/'));
        return this.step(dir, _at, name, retries + 1);
      }
    }
    return { kind: st.isDirectory() ? 'dir' : 'other', handle: fd };
  }

  release(h: number): void {
    closeSync(h);
  }
}

/** A resolved entry held open: use `path` (a /proc/self/fd path) for any work on it. */
export interface Held {
  /** O_PATH descriptor of the entry; close() releases it. */
  fd: number;
  /** Root-relative components it was found at. */
  comps: string[];
  stat: Stats;
  /** /proc/self/fd/<fd>: opening it reaches this very inode, whatever happens to names meanwhile. */
  path: string;
  close(): void;
}

function held(fd: number, comps: string[]): Held {
  let open = true;
  return {
    fd,
    comps,
    stat: fstatSync(fd),
    path: fdPath(fd),
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Open `p` inside `root`, following symlinks inside the root only. Fails with PATH_NOT_FOUND when
 * it does not exist. The caller closes the result.
 */
export function openInRoot(root: string, p: string, opts: WalkOptions = {}): Held {
  const w = walkInRoot(new FdWalker(root), p, opts);
  if (w.missing.length > 0 || w.kind === 'link') {
    closeSync(w.handle);
    throw new KilnError('PATH_NOT_FOUND', `${p} does not exist in ${root}`, {
      hint: 'the path is resolved inside its own root; symlinks pointing outside it lead nowhere',
    });
  }
  return held(w.handle, w.comps);
}

/**
 * The directory holding `p`'s last component, opened inside `root` without following any symlink
 * (for paths kiln created itself and wants to act on again: a container may have replaced any
 * part of them). Returns undefined when the parent is gone or is no longer a directory.
 */
export function openParentStrict(root: string, p: string): { dir: Held; name: string } | undefined {
  const comps = cleanComponents(p);
  const name = comps.pop();
  if (name === undefined) return undefined;
  let w: ReturnType<typeof walkInRoot<number>>;
  try {
    w = walkInRoot(new FdWalker(root), comps.join('/'), { refuseLinks: true });
  } catch (err) {
    if ((err as KilnError).code === 'PATH_HAS_SYMLINK') return undefined;
    throw err;
  }
  if (w.missing.length > 0 || w.kind !== 'dir') {
    closeSync(w.handle);
    return undefined;
  }
  return { dir: held(w.handle, w.comps), name };
}

/**
 * `name` in the directory `dir` holds, opened O_PATH without following it: its descriptor when it
 * is a real directory (the caller closes it), undefined when it is absent, a file or a symlink.
 * One step of openParentStrict's walk, for callers that keep the directories on their way open.
 */
export function openDirStrict(dir: number, name: string): number | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return undefined;
  const s = new FdWalker('').step(dir, [], name);
  if (s.kind === 'dir') return s.handle;
  if (s.kind === 'other') closeSync(s.handle);
  return undefined;
}

/** lstat of `name` inside a held directory (never following it); undefined when absent. */
export function lstatIn(dir: Pick<Held, 'fd'>, name: string): Stats | undefined {
  // /proc/self/fd/N is followed to the directory we hold; `name` is looked up there, unfollowed.
  return lstatSync(fdPath(dir.fd, name), { throwIfNoEntry: false });
}

/**
 * Read a regular file inside `root` (symlinks followed inside the root only), at most `limit`
 * bytes: undefined when it is absent or not a regular file (a FIFO planted at /etc/passwd must
 * not hang kiln), FILE_TOO_LARGE when it is bigger than the limit.
 */
export function readFileInRoot(root: string, p: string, limit: number): Buffer | undefined {
  let h: Held;
  try {
    h = openInRoot(root, p);
  } catch (err) {
    if ((err as KilnError).code === 'PATH_NOT_FOUND') return undefined;
    throw err;
  }
  try {
    if (!h.stat.isFile()) return undefined;
    if (h.stat.size > limit) {
      throw new KilnError('FILE_TOO_LARGE', `${p} in the root is ${h.stat.size} bytes, more than ${limit}`, {
        hint: 'the image or context holds an oversized file where kiln expects a small one',
      });
    }
    // Re-opening /proc/self/fd/N reaches the inode we checked, even if the name changed since.
    return readFileSync(h.path).subarray(0, limit);
  } finally {
    h.close();
  }
}

/** SOURCE_CHANGED: what kiln looked at was replaced before it was read. */
export function sourceChanged(p: string): KilnError {
  return new KilnError('SOURCE_CHANGED', `${showName(p)} changed while kiln was reading it`, {
    hint: 'something replaced a file or directory of the source during the build; run the build again',
  });
}

/**
 * What a call on a name gets when the name was replaced after an earlier look at it: gone
 * (ENOENT), a parent no longer a directory (ENOTDIR), now a symlink where none is followed
 * (ELOOP), no longer a symlink for readlink (EINVAL).
 */
export function isReplaced(err: unknown): boolean {
  return isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP') || isErrno(err, 'EINVAL');
}

/**
 * Open directory `p` (never following a symlink at its last component) and check it is the
 * entry `st` described (same device and inode): a directory swapped for a symlink to the host
 * after it was looked at is refused. The caller closes the descriptor; its children are reached
 * through fdPath(fd, name).
 */
export function openDirVerified(p: string, st: Stats): number {
  let fd: number;
  try {
    fd = openSync(p, O_PATH | O_NOFOLLOW | O_DIRECTORY | (O_CLOEXEC ?? 0o2000000));
  } catch (err) {
    if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP') || isErrno(err, 'ENOENT')) throw sourceChanged(p);
    throw err;
  }
  const now = fstatSync(fd);
  if (now.dev !== st.dev || now.ino !== st.ino) {
    closeSync(fd);
    throw sourceChanged(p);
  }
  return fd;
}

/**
 * Open regular file `p` for reading, never following a symlink at its last component, and check
 * it is the file `st` described (same device and inode). A parent swapped for a symlink since the
 * walk saw the file leads to another inode and is refused, so host files never stand in for
 * source files. Returns the descriptor, a path that reaches it (/proc/self/fd/N) and a closer.
 */
export function openFileVerified(
  p: string,
  st: { dev: number; ino: number },
): { fd: number; path: string; close(): void } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in must not block the open.
    fd = openSync(p, constants.O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK | (O_CLOEXEC ?? 0o2000000));
  } catch (err) {
    if (isErrno(err, 'ELOOP') || isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw sourceChanged(p);
    throw err;
  }
  const now = fstatSync(fd);
  if (now.dev !== st.dev || now.ino !== st.ino || !now.isFile()) {
    closeSync(fd);
    throw sourceChanged(p);
  }
  return { fd, path: fdPath(fd), close: () => closeSync(fd) };
}
