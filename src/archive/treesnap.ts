/**
 * A comparable description of a directory tree (type, mode, owner, mtime, link target, device,
 * content digest, xattrs, hardlink groups), for round-trip tests and tools that check that two
 * trees are the same.
 */
import { createHash } from 'node:crypto';
import * as fs from '../sys/fs.ts';
import { walkTree } from './entries.ts';
import { readXattrTree } from './xattr.ts';

export interface TreeNode {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds: layers carry second precision. */
  mtime: number;
  linkname?: string;
  rdev?: number;
  sha256?: string;
  xattrs?: Record<string, string>;
  /** Paths sharing this node's inode (sorted), when it has more than one link. */
  links?: string[];
}

/** Describe every object under `dir` (not dir itself), keyed by relative path. */
export async function describeTree(
  dir: string,
  options: { mtimes?: boolean } = {},
): Promise<Record<string, TreeNode>> {
  const xattrs = await readXattrTree(dir);
  const out: Record<string, TreeNode> = {};
  const inodes = new Map<string, string[]>();
  walkTree(dir, (rel, abs, st) => {
    const type = st.isFile()
      ? 'file'
      : st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isCharacterDevice()
            ? 'char'
            : st.isBlockDevice()
              ? 'block'
              : st.isFIFO()
                ? 'fifo'
                : 'other';
    const node: TreeNode = {
      type,
      mode: type === 'symlink' ? 0 : st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: options.mtimes === false ? 0 : Math.floor(st.mtimeMs / 1000),
    };
    if (type === 'symlink') node.linkname = fs.readlinkSync(abs);
    if (type === 'char' || type === 'block') node.rdev = st.rdev;
    if (type === 'file') node.sha256 = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    const x = xattrs.get(rel);
    if (x && Object.keys(x).length) {
      node.xattrs = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v.toString('hex')]));
    }
    if (type !== 'dir' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const group = inodes.get(key) ?? [];
      group.push(rel);
      inodes.set(key, group);
      node.links = group;
    }
    out[rel] = node;
    return true;
  });
  for (const group of inodes.values()) group.sort();
  return out;
}
