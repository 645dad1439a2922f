/** POSIX path rules BuildKit applies to WORKDIR, COPY destinations and sources (Linux targets). */
import { posix } from 'node:path';

/** `path.Clean` of Go (posix.normalize keeps a trailing slash and turns '' into '.'). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  let c = posix.normalize(p);
  if (c.length > 1 && c.endsWith('/')) c = c.slice(0, -1);
  return c;
}

/** Join `p` onto `base` and clean; a trailing `/` or `/.` is kept when `keepSlash` (it means "a directory"). */
export function normalizePath(base: string, p: string, keepSlash: boolean): string {
  const joined = p.startsWith('/') ? cleanPath(p) : cleanPath(posix.join(base, p));
  if (keepSlash && (p.endsWith('/') || p.endsWith('/.')) && !joined.endsWith('/')) return `${joined}/`;
  return joined;
}

/** WORKDIR: relative to the current working directory, cleaned, absolute. */
export function normalizeWorkdir(current: string, requested: string): string {
  if (requested === '') return current || '/';
  return cleanPath(
    posix.join('/', requested.startsWith('/') ? requested : posix.join(current || '/', requested)),
  );
}

/** A COPY/ADD destination relative to the working directory (`.` and `` mean the directory itself). */
export function destRelativeToWorkdir(cwd: string, dest: string): string {
  if (dest.startsWith('/')) return normalizePath('/', dest, true);
  const p = dest === '.' || dest === '' ? './' : dest;
  return normalizePath(cwd || '/', p, true);
}

export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '*' || ch === '?' || ch === '[') return true;
    if (ch === '\\') i++;
  }
  return false;
}
