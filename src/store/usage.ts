/**
 * Bytes on disk as `du -sb` counts them: apparent sizes of files, directories and symlinks, each
 * inode once however many links it has (hard-linked COPY layers share inodes). One walker is
 * shared across a whole accounting, so an inode is counted for the first tree that reaches it.
 * Trees may hold hostile names and depths: paths stay Buffers, the walk uses its own stack and
 * never follows a symlink, and it does not enter another filesystem mounted inside (a running
 * build's overlay or secret tmpfs).
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { isErrno } from '../errors/errors.ts';

export class TreeUsage {
  private readonly seen = new Set<string>();

  /** Apparent bytes of `path` and everything under it; 0 when it does not exist. */
  bytes(path: string | Buffer): number {
    const top = this.lstat(path);
    if (!top) return 0;
    let total = this.count(top);
    if (!top.isDirectory()) return total;
    const stack: Buffer[] = [Buffer.isBuffer(path) ? path : Buffer.from(path)];
    const slash = Buffer.from('/');
    while (stack.length) {
      const dir = stack.pop() as Buffer;
      let names: Buffer[];
      try {
        names = readdirSync(dir, { encoding: 'buffer' });
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
        throw err;
      }
      for (const name of names) {
        const p = Buffer.concat([dir, slash, name]);
        const st = this.lstat(p);
        if (!st) continue;
        // Something mounted here belongs to another filesystem: not these bytes.
        if (st.dev !== top.dev) continue;
        total += this.count(st);
        if (st.isDirectory()) stack.push(p);
      }
    }
    return total;
  }

  /** Apparent bytes of `path` itself (a directory's own entry, not what is under it). */
  entry(path: string | Buffer): number {
    const st = this.lstat(path);
    return st ? this.count(st) : 0;
  }

  private count(st: Stats): number {
    if (!st.isDirectory() && st.nlink > 1) {
      const id = `${st.dev}:${st.ino}`;
      if (this.seen.has(id)) return 0;
      this.seen.add(id);
    }
    return st.size;
  }

  private lstat(p: string | Buffer): Stats | undefined {
    try {
      return lstatSync(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }
}
