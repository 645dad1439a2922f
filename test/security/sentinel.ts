/**
 * A sentinel: a directory on the host, outside every kiln root and context, that a hostile build
 * tries to reach. It holds a secret file, an empty file, empty directories (what stub cleanup could
 * delete) and fixed times (what it could rewrite); `assertUntouched` compares a full recursive
 * record of it (names, types, modes, sizes, times, contents) with the one taken when it was made.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export const SECRET = 'HOST-SENTINEL-SECRET-7f3a';

export interface Sentinel {
  dir: string;
  /** Fail when anything under the sentinel changed since it was made. */
  assertUntouched(): void;
}

function record(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(abs);
    let what = '';
    if (st.isFile()) what = createHash('sha256').update(readFileSync(abs)).digest('hex');
    else if (st.isSymbolicLink()) what = readlinkSync(abs);
    out.push(`${rel}\t${st.mode.toString(8)}\t${st.size}\t${st.mtimeMs}\t${what}`);
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

/** Make a sentinel directory at `dir` (which must not exist). */
export function makeSentinel(dir: string): Sentinel {
  mkdirSync(join(dir, 'b', 'c'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'empty'), { recursive: true });
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
  writeFileSync(join(dir, 'etc', 'passwd'), `root:${SECRET}:0:0::/:/bin/sh\n`);
  writeFileSync(join(dir, 'hosts'), '');
  writeFileSync(join(dir, 'b', 'hostname'), '');
  writeFileSync(join(dir, 'etc', 'hosts'), '');
  // Fixed times, deepest first, so a rewrite of any directory's times shows.
  const t = new Date('2020-02-02T02:02:02Z');
  for (const p of [
    'b/c',
    'b/hostname',
    'b',
    'etc/passwd',
    'etc/hosts',
    'etc',
    'empty',
    'secret',
    'hosts',
    '',
  ]) {
    utimesSync(p === '' ? dir : join(dir, p), t, t);
  }
  const before = record(dir);
  return {
    dir,
    assertUntouched() {
      assert.deepEqual(record(dir), before, `the sentinel ${dir} outside the root was changed`);
    },
  };
}
