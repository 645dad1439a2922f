/**
 * Paths inside a rootfs are hostile: resolve them component by component with lstat, following
 * symlinks as if the rootfs were `/` (an absolute link restarts at the root, `..` stops at it),
 * like Go's securejoin. Used for reading /etc/passwd, creating the working directory and mount
 * targets. The container is not running while these run, so nothing inside it races them.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';

const MAX_LINKS = 255;

/** The host path of `unsafe` inside `root`, with every existing symlink resolved inside the root. */
export async function resolveInRoot(root: string, unsafe: string): Promise<string> {
  const queue = unsafe.split('/');
  let current: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      current.pop();
      continue;
    }
    const full = path.join(root, ...current, c);
    let st: Awaited<ReturnType<typeof fs.lstat>>;
    try {
      st = await fs.lstat(full);
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      // The rest does not exist, so it holds no symlinks: clean it lexically, clamped at the root.
      const rest = path.posix.normalize(`/${[...current, c, ...queue].join('/')}`);
      return path.join(root, rest);
    }
    if (!st.isSymbolicLink()) {
      current.push(c);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new KilnError('PATH_LOOP', `too many symlinks resolving ${unsafe} in the rootfs`);
    }
    const target = await fs.readlink(full);
    if (target.startsWith('/')) current = [];
    queue.unshift(...target.split('/'));
  }
  return path.join(root, ...current);
}

/** What ensureInRoot created, so it can be removed again if it stayed an empty stub. */
export interface CreatedPath {
  path: string;
  /** Times of the parent directory before the creation, restored on removal. */
  parentAtime: Date;
  parentMtime: Date;
  /** The parent's mtime right after the creation: if it changed later, the run touched it. */
  parentMtimeAfter: number;
}

/**
 * Make sure `unsafe` exists in `root` as a directory (or an empty file when `kind` is 'file'),
 * creating missing components one by one (0755, root-owned) and never following a symlink out
 * of the root. Returns the resolved host path and what was created, outermost first.
 */
export async function ensureInRoot(
  root: string,
  unsafe: string,
  kind: 'dir' | 'file',
): Promise<{ path: string; created: CreatedPath[] }> {
  const resolved = await resolveInRoot(root, unsafe);
  const rel = path.relative(root, resolved);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new KilnError('PATH_ESCAPE', `${unsafe} resolves outside the rootfs`);
  }
  const parts = rel === '' ? [] : rel.split('/');
  const created: CreatedPath[] = [];
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    const parent = cur;
    cur = path.join(cur, parts[i]);
    const last = i === parts.length - 1;
    const st = await fs.lstat(cur).catch((err) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (st) {
      if (st.isSymbolicLink())
        throw new KilnError('PATH_ESCAPE', `${unsafe}: ${cur} changed into a symlink while resolving`);
      if (!last && !st.isDirectory()) {
        throw new KilnError(
          'PATH_NOT_DIRECTORY',
          `${unsafe}: ${path.relative(root, cur)} in the rootfs is not a directory`,
          {
            hint: 'A mount target or working directory cannot be below a file.',
          },
        );
      }
      continue;
    }
    const pst = await fs.stat(parent);
    if (last && kind === 'file') {
      // O_EXCL|O_NOFOLLOW: never write through something that appeared meanwhile.
      const fh = await fs.open(
        cur,
        constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
        0o644,
      );
      await fh.close();
    } else {
      await fs.mkdir(cur, { mode: 0o755 });
    }
    const after = await fs.stat(parent);
    created.push({
      path: cur,
      parentAtime: pst.atime,
      parentMtime: pst.mtime,
      parentMtimeAfter: after.mtimeMs,
    });
  }
  return { path: cur, created };
}

/**
 * Remove created stubs that are still empty (innermost first), as BuildKit's MountStubsCleaner
 * does, so a mount point made only for a run leaves no trace in the layer. The parent's times go
 * back to what they were before the stub, unless the run itself changed the parent meanwhile.
 */
export async function removeStubs(created: CreatedPath[]): Promise<void> {
  for (const c of [...created].reverse()) {
    const st = await fs.lstat(c.path).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory() ? (await fs.readdir(c.path)).length > 0 : !st.isFile() || st.size !== 0) continue;
    const parent = path.dirname(c.path);
    const before = await fs.stat(parent).catch(() => undefined);
    if (st.isDirectory()) await fs.rmdir(c.path);
    else await fs.unlink(c.path);
    if (!before) continue;
    // Untouched by the run: back to the pre-stub times. Touched: keep the run's times (BuildKit).
    const untouched = before.mtimeMs === c.parentMtimeAfter;
    await fs
      .utimes(parent, untouched ? c.parentAtime : before.atime, untouched ? c.parentMtime : before.mtime)
      .catch(() => undefined);
  }
}
