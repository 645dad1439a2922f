/**
 * `--chmod` values: octal (`755`, `0644`, `4755`) or chmod(1)-style symbolic clauses
 * (`u+x,g-w`, `a=rX`, `o=`, `u+s`), applied to each copied file's own mode.
 */
import { KilnError } from '../errors/errors.ts';

/** Maps a source mode (permission bits incl. setuid/setgid/sticky) to the mode to set. */
export type ModeFn = (mode: number, isDir: boolean) => number;

const OCTAL = /^[0-7]{1,4}$/;
const CLAUSE = /^([ugoa]*)((?:[-+=][rwxXst]*)+)$/;

function invalid(s: string): KilnError {
  return new KilnError('CHMOD_INVALID', `invalid --chmod value "${s}"`, {
    hint: 'use an octal mode such as 755 or symbolic clauses such as u+x,g-w',
  });
}

/** Parse a --chmod value; throws CHMOD_INVALID. */
export function parseChmod(s: string): ModeFn {
  if (OCTAL.test(s)) {
    const m = Number.parseInt(s, 8);
    return () => m;
  }
  const clauses = s.split(',').map((c) => {
    const m = CLAUSE.exec(c);
    if (!m) throw invalid(s);
    const who = m[1] === '' || m[1].includes('a') ? 'ugo' : m[1];
    const ops = [...m[2].matchAll(/([-+=])([rwxXst]*)/g)].map((o) => ({ op: o[1], perms: o[2] }));
    return { who, ops };
  });
  return (mode, isDir) => {
    let cur = mode & 0o7777;
    for (const { who, ops } of clauses) {
      for (const { op, perms } of ops) {
        let bits = 0;
        const hasX = isDir || (cur & 0o111) !== 0;
        for (const w of who) {
          const shift = w === 'u' ? 6 : w === 'g' ? 3 : 0;
          if (perms.includes('r')) bits |= 4 << shift;
          if (perms.includes('w')) bits |= 2 << shift;
          if (perms.includes('x') || (perms.includes('X') && hasX)) bits |= 1 << shift;
          if (perms.includes('s') && w === 'u') bits |= 0o4000;
          if (perms.includes('s') && w === 'g') bits |= 0o2000;
          if (perms.includes('t') && w === 'o') bits |= 0o1000;
        }
        if (op === '+') cur |= bits;
        else if (op === '-') cur &= ~bits;
        else {
          let mask = 0;
          for (const w of who) mask |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : 0o1007;
          cur = (cur & ~mask) | bits;
        }
      }
    }
    return cur;
  };
}
