/**
 * Layer extraction's view of its target directory: member names split into components (refusing
 * `..`), directories resolved inside the root by kiln's one resolver (confine/resolve.ts, by path:
 * the target is a fresh snapshot nothing else writes to) and created as needed, with a cache of
 * resolved directories that removals invalidate.
 */
import path from 'node:path';
import { type Resolved, resolveInRoot } from '../confine/resolve.ts';
import { KilnError } from '../errors/errors.ts';
import * as fs from '../sys/fs.ts';
import { nameByteLength, showName } from '../sys/fsname.ts';
import { NAME_MAX } from './apply-errors.ts';

/**
 * Split an archive member name into clean components. Leading '/' and '.' components are
 * dropped (members are relative to the root); a '..' component is refused outright, since
 * no legitimate layer needs one and clamping it would hide an attack.
 */
export function memberComponents(name: string, what: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new KilnError('LAYER_UNSAFE_PATH', `layer ${what} "${showName(name)}" contains a ".." component`, {
      hint: 'the layer is malformed or hostile; nothing outside the target directory was touched',
    });
  }
  if (parts.some((p) => p.includes('\0'))) {
    throw new KilnError('LAYER_UNSAFE_PATH', `layer ${what} "${showName(name)}" contains a NUL byte`);
  }
  for (const p of parts) {
    const n = nameByteLength(p);
    if (n > NAME_MAX) {
      throw new KilnError(
        'LAYER_ENTRY_INVALID',
        `layer ${what} "${showName(name)}" has a name of ${n} bytes; Linux allows ${NAME_MAX}`,
        { hint: 'the layer is malformed or hostile; nothing outside the target directory was touched' },
      );
    }
  }
  return parts;
}

export class ConfinedRoot {
  /** The root's real path (symlinks in the caller's path resolved once, up front). */
  readonly root: string;
  /** Logical directory path → resolved components; cleared whenever a dir or symlink is removed. */
  private cache = new Map<string, string[]>();

  constructor(root: string) {
    fs.mkdirSync(root, { recursive: true });
    this.root = fs.realpathSync(root);
  }

  /** Host path of already-resolved components (every one a real directory or the final name). */
  host(resolved: string[]): string {
    return resolved.length === 0 ? this.root : path.join(this.root, ...resolved);
  }

  /** Forget cached resolutions: call after removing or replacing any directory or symlink. */
  invalidate(): void {
    this.cache.clear();
  }

  /**
   * Resolve directory components to real directories under the root (the one resolver,
   * confine/resolve.ts). Missing directories are created (mode 0755) when `create`, else the
   * result is undefined. A non-directory in the way fails with LAYER_NOT_A_DIRECTORY.
   */
  resolveDir(components: string[], create: boolean): string[] | undefined {
    const key = components.join('/');
    const hit = this.cache.get(key);
    if (hit) return hit;
    let r: Resolved;
    try {
      r = resolveInRoot(this.root, key, true);
    } catch (err) {
      if ((err as KilnError).code !== 'PATH_SYMLINK_LOOP') throw err;
      throw new KilnError(
        'LAYER_SYMLINK_LOOP',
        `too many symlinks resolving "${showName(key)}" in the layer`,
        {
          cause: err,
        },
      );
    }
    const cur = r.existingRel === '' ? [] : r.existingRel.split('/');
    if (!r.exists) {
      if (cur.length > 0 && !fs.lstatSync(this.host(cur)).isDirectory()) {
        throw new KilnError(
          'LAYER_NOT_A_DIRECTORY',
          `"${showName(r.existingRel)}" is not a directory but the layer puts entries under it`,
          { hint: 'the layer does not fit the filesystem it is applied to' },
        );
      }
      if (!create) return undefined;
      // Nothing below the deepest existing directory exists, so nothing there can be a symlink.
      for (const c of r.missing) {
        cur.push(c);
        fs.mkdirSync(this.host(cur), 0o755);
      }
    } else if (!fs.lstatSync(r.abs).isDirectory()) {
      throw new KilnError(
        'LAYER_NOT_A_DIRECTORY',
        `"${showName(r.rel)}" is not a directory but the layer puts entries under it`,
        { hint: 'the layer does not fit the filesystem it is applied to' },
      );
    } else {
      cur.push(...r.missing);
    }
    this.cache.set(key, cur);
    return cur;
  }

  /** lstat of a host path, undefined when absent. */
  lstat(hostPath: string): fs.Stats | undefined {
    // No exception for ENOENT: building an Error per new file was a third of apply's CPU time.
    return fs.lstatSync(hostPath, { throwIfNoEntry: false });
  }

  /** Remove whatever is at a host path (never following a symlink), invalidating as needed. */
  remove(hostPath: string, st = this.lstat(hostPath)): void {
    if (!st) return;
    if (st.isDirectory()) {
      // rmSync does not follow symlinks inside the tree; it unlinks them.
      fs.rmSync(hostPath, { recursive: true, force: true });
      this.invalidate();
    } else {
      fs.unlinkSync(hostPath);
      if (st.isSymbolicLink()) this.invalidate();
    }
  }
}
