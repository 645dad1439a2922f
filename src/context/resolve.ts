/**
 * Resolving paths inside an untrusted root as if chrooted there: component by component with
 * lstat, `..` never climbs above the root, and symlink targets (absolute ones included) are
 * re-rooted at the root. This is how COPY sources in another stage's rootfs and every file-op
 * destination are looked up (the in-JS equivalent of openat2 RESOLVE_IN_ROOT).
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { goClean, goMatch } from '../frontend/dockerignore/index.ts';
import { compareNames } from './walk.ts';

const MAX_LINKS = 255;

export interface Resolved {
  /** Path relative to the root ('' is the root itself), with every symlink resolved except, maybe, the last. */
  rel: string;
  /** Absolute host path: join(root, rel). */
  abs: string;
  /** False when the final component (or a parent) does not exist; rel then holds the unresolved remainder. */
  exists: boolean;
  /** The longest existing, fully resolved prefix (root-relative). */
  existingRel: string;
  /** The components below existingRel that do not exist yet (empty when exists). */
  missing: string[];
}

function splitParts(p: string): string[] {
  return goClean(`/${p}`)
    .split('/')
    .filter((s) => s !== '');
}

/**
 * Resolve `p` (absolute or relative, interpreted from the root) inside `root`. With
 * `followFinal` false a symlink in the last position is returned as itself (lstat semantics).
 */
export function resolveInRoot(root: string, p: string, followFinal = true): Resolved {
  const pending = splitParts(p);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, part];
    const abs = join(root, ...candidate);
    let isLink = false;
    try {
      isLink = lstatSync(abs).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const rel = [...candidate, ...pending].join('/');
        return {
          rel,
          abs: join(root, rel),
          exists: false,
          existingRel: done.join('/'),
          missing: [part, ...pending],
        };
      }
      throw err;
    }
    if (isLink && (pending.length > 0 || followFinal)) {
      if (++links > MAX_LINKS) {
        throw new KilnError('PATH_SYMLINK_LOOP', `too many levels of symbolic links resolving ${p}`, {
          hint: 'the image or context contains a symlink loop',
        });
      }
      const target = readlinkSync(abs);
      if (target.startsWith('/')) done.length = 0;
      // Relative targets resolve from the link's directory; `..` is clamped at the root above.
      pending.unshift(...target.split('/').filter((s) => s !== ''));
      continue;
    }
    done.push(part);
  }
  const rel = done.join('/');
  return { rel, abs: rel === '' ? root : join(root, rel), exists: true, existingRel: rel, missing: [] };
}

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
      const st = lstatSync(join(base.abs, childRel));
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
