/**
 * COPY source wildcards in an untrusted root (BuildKit's ResolveWildcards): the part of a
 * pattern before its first wildcard is resolved by kiln's one confined resolver
 * (confine/resolve.ts), the rest matched below it.
 */
import { join } from 'node:path';
import { resolveInRoot } from '../confine/resolve.ts';
import { goClean, goMatch } from '../frontend/dockerignore/index.ts';
import { lstatSync, readdirSync } from '../sys/fs.ts';
import { compareNames } from '../sys/fsname.ts';

/** True when the name contains an unescaped wildcard character (fsutil's containsWildcards). */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/**
 * BuildKit's ResolveWildcards: the part of `pattern` before the first component with a
 * wildcard is resolved in the root; the rest is matched (Go filepath.Match) against paths
 * below it. Matching directories are not descended. Returns root-relative paths, sorted.
 */
export function resolveWildcards(root: string, pattern: string, followLinks: boolean): string[] {
  const parts = goClean(`/${pattern}`)
    .split('/')
    .filter((s) => s !== '');
  const idx = parts.findIndex(containsWildcards);
  if (idx < 0) return [parts.join('/')];
  const base = resolveInRoot(root, parts.slice(0, idx).join('/'), followLinks);
  if (!base.exists) return [];
  const rest = parts.slice(idx).join('/');
  // filepath.Match never lets * ? match "/", so deeper paths than the pattern cannot match.
  const maxDepth = parts.length - idx;
  const out: string[] = [];
  const walk = (rel: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(rel === '' ? base.abs : join(base.abs, rel));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'ENOENT') return;
      throw err;
    }
    names.sort(compareNames);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      // Gone since the listing (the context changed under the build): it matches nothing.
      const st = lstatSync(join(base.abs, childRel), { throwIfNoEntry: false });
      if (!st) continue;
      if (goMatch(rest, childRel)) {
        out.push(base.rel === '' ? childRel : `${base.rel}/${childRel}`);
        continue;
      }
      if (st.isDirectory() && depth + 1 < maxDepth) walk(childRel, depth + 1);
    }
  };
  walk('', 0);
  return out;
}
