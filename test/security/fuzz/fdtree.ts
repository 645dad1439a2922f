/**
 * Trees deeper than PATH_MAX, made, walked and removed by directory descriptor: every system call
 * gets a short `/proc/self/fd/<fd>/<name>` path, so depth never makes a path too long. Names are
 * kiln's byte strings (sys/fsname.ts); nothing is followed.
 */
import { fchmodSync, writeFileSync } from 'node:fs';
import * as fs from '../../../src/sys/fs.ts';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** Run `work` with a short path standing for the directory `dir` (never a symlink). */
export function atDir<T>(dir: string, work: (at: string) => T): T {
  const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    return work(`/proc/self/fd/${fd}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every entry under `dir` (not `dir` itself), parents before children, with its lstat. */
export function walkTree(
  dir: string,
  visit: (rel: string, at: string, st: fs.Stats) => void,
  rel = '',
): void {
  atDir(dir, (at) => {
    for (const name of fs.readdirSync(at)) {
      const p = `${at}/${name}`;
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(p);
      visit(r, p, st);
      if (st.isDirectory()) walkTree(p, visit, r);
    }
  });
}

/** Empty `dir` (it stays), however deep its tree is. */
export function emptyTree(dir: string): void {
  atDir(dir, (at) => {
    for (const name of fs.readdirSync(at)) {
      const p = `${at}/${name}`;
      if (fs.lstatSync(p).isDirectory()) {
        // By descriptor (O_NOFOLLOW, O_DIRECTORY): only ever this directory's own mode.
        const fd = fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          fchmodSync(fd, 0o700);
        } finally {
          fs.closeSync(fd);
        }
        emptyTree(p);
        fs.rmdirSync(p);
      } else fs.unlinkSync(p);
    }
  });
}

/**
 * Make a chain of directories named `names` under `dir` and a file `leaf` at its bottom; returns
 * how many levels were made (a name the kernel refuses ends the chain there).
 */
export function deepChain(dir: string, names: string[], leaf: Buffer): number {
  let made = 0;
  const down = (at: string, i: number): void => {
    if (i === names.length) {
      writeFileSync(`${at}/leaf`, leaf);
      return;
    }
    try {
      fs.mkdirSync(`${at}/${names[i]}`);
    } catch {
      return;
    }
    made++;
    atDir(`${at}/${names[i]}`, (next) => down(next, i + 1));
  };
  atDir(dir, (at) => down(at, 0));
  return made;
}
