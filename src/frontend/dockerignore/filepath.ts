/**
 * Go's `path.Clean`, `path.Dir` and `strings.TrimSpace` with their exact semantics, because
 * .dockerignore patterns and COPY sources are normalised the way Go normalises them.
 */

/** Go `path.Clean`: collapse `//`, drop `.` parts, resolve `..` lexically, drop a trailing `/`. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go `path.Dir`: everything before the last `/`, cleaned (`.` when there is none). */
export function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return goClean(p.slice(0, i + 1));
}

/** Go `path.Base`. */
export function goBase(p: string): string {
  if (p === '') return '.';
  let s = p;
  while (s.length > 0 && s.endsWith('/')) s = s.slice(0, -1);
  if (s === '') return '/';
  return s.slice(s.lastIndexOf('/') + 1);
}

// unicode.IsSpace: JS's trim() also strips U+FEFF, which Go does not.
const GO_SPACE =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Go `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  return s.replace(GO_SPACE, '');
}
