/**
 * mknod(2), which Node lacks, through coreutils' mknod (it creates the node without following
 * anything). Node passes arguments as UTF-8, so a name that is not cannot be one: such a node is
 * made under a plain temporary name in its directory, reached through a descriptor, and linked
 * to its real name (which, like mknod, fails when something is already there).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, openSync, unlinkSync } from 'node:fs';
import { O_PATH } from './fs.ts';
import { encodeName, hasEscape } from './fsname.ts';

export type NodeType = 'char' | 'block' | 'fifo';

function run(path: string, type: NodeType, mode: number, major: number, minor: number): void {
  const args = [
    '-m',
    (mode & 0o7777).toString(8),
    '--',
    path,
    type === 'fifo' ? 'p' : type === 'char' ? 'c' : 'b',
  ];
  if (type !== 'fifo') args.push(String(major), String(minor));
  execFileSync('mknod', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Create a device node or FIFO at `path` (mode's permission bits); throws mknod's failure. */
export function mknodSync(path: string, type: NodeType, mode: number, major = 0, minor = 0): void {
  if (!hasEscape(path)) {
    run(path, type, mode, major, minor);
    return;
  }
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
  const fd = openSync(encodeName(dir), O_PATH | constants.O_DIRECTORY);
  try {
    const tmp = `.kiln-mknod-${randomBytes(8).toString('hex')}`;
    // The child reaches our directory descriptor through /proc/<our pid>/fd.
    run(`/proc/${process.pid}/fd/${fd}/${tmp}`, type, mode, major, minor);
    const made = `/proc/self/fd/${fd}/${tmp}`;
    try {
      linkSync(made, encodeName(`/proc/self/fd/${fd}/${path.slice(slash + 1)}`));
    } finally {
      unlinkSync(made);
    }
  } finally {
    closeSync(fd);
  }
}
