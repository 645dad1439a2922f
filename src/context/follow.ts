/**
 * fsutil's FollowLinks: for each follow path (wildcards allowed in the last component), resolve
 * symlinks component by component inside the root and return the link paths plus their targets
 * as extra include patterns. Targets are always interpreted relative to the root.
 */
import { join } from 'node:path';
import { goBase, goClean, goDir } from '../frontend/dockerignore/filepath.ts';
import { goMatch, hasWildcards } from '../frontend/dockerignore/match.ts';
import { lstatSync, readdirSync, readlinkSync } from '../sys/fs.ts';

function joinClean(...parts: string[]): string {
  return goClean(parts.filter((p) => p !== '').join('/'));
}

class Resolver {
  readonly root: string;
  readonly resolved = new Set<string>();
  constructor(root: string) {
    this.root = root;
  }

  readSymlink(p: string, allowWildcard: boolean): string[] | undefined {
    const real = join(this.root, p);
    const base = goBase(p);
    if (allowWildcard && hasWildcards(base)) {
      let names: string[];
      try {
        names = readdirSync(join(this.root, goDir(p)));
      } catch (err) {
        if (
          (err as NodeJS.ErrnoException).code === 'ENOENT' ||
          (err as NodeJS.ErrnoException).code === 'ENOTDIR'
        )
          return undefined;
        throw err;
      }
      let out: string[] | undefined;
      for (const name of names.sort()) {
        if (!goMatch(base, name)) continue;
        const res = this.readSymlink(joinClean(goDir(p), name), false);
        if (res) out = [...(out ?? []), ...res];
      }
      return out;
    }
    let link: string;
    try {
      if (!lstatSync(real).isSymbolicLink()) return undefined;
      link = readlinkSync(real);
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR' ||
        // no longer a link since the lstat
        (err as NodeJS.ErrnoException).code === 'EINVAL'
      )
        return undefined;
      throw err;
    }
    link = goClean(link);
    if (link.startsWith('/')) return [link];
    return [goClean(`/${joinClean(goDir(p), link)}`)];
  }

  append(input: string, depth = 0): void {
    if (depth > 255) return; // a symlink loop: stop, as the walk will not follow it either
    let p = joinClean('.', input.replace(/^\/+/, ''));
    let current = '.';
    for (;;) {
      const slash = p.indexOf('/');
      const head = slash < 0 ? p : p.slice(0, slash);
      current = joinClean(current, head);
      const targets = this.readSymlink(current, true);
      p = slash < 0 ? '' : p.slice(slash + 1);
      if ((p === '' || targets) && this.resolved.has(current)) return;
      if (targets) {
        this.resolved.add(current);
        for (const t of targets) this.append(joinClean(t, p), depth + 1);
        return;
      }
      if (p === '') {
        this.resolved.add(current);
        return;
      }
    }
  }
}

/** Extra include patterns for `followPaths`; undefined means "everything" (a link to the root). */
export function followLinks(root: string, paths: readonly string[]): string[] | undefined {
  const r = new Resolver(root);
  for (const p of paths) r.append(p);
  return dedupePaths([...r.resolved].sort());
}

/** fsutil's dedupePaths: sorted input; "." means no filter (undefined). */
export function dedupePaths(sorted: readonly string[]): string[] | undefined {
  const out: string[] = [];
  let last = '';
  for (const s of sorted) {
    if (s === '.') return undefined;
    if (last !== '' && s.startsWith(`${last}/`)) continue;
    if (s === last) continue;
    out.push(s);
    last = s;
  }
  return out;
}
