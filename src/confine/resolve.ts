/**
 * The one way kiln turns an untrusted path into a host path: resolve it inside a root as if the
 * process were chrooted there. The path is cleaned lexically first (as BuildKit's continuity
 * RootPath does), then walked component by component without following anything; a symlink met on
 * the way is read and its target walked in its place, an absolute target restarting at the root
 * and `..` stopping at it. Two walkers share the algorithm: by path with lstat (roots nothing else
 * writes to while kiln works: layer unpacking, a stage's rootfs) and by file descriptor (roots
 * that may change under kiln's feet: see fd.ts).
 */
import { KilnError } from '../errors/errors.ts';
import { lstatSync, readlinkSync } from '../sys/fs.ts';

/** securejoin's limit on symlinks followed in one resolution. */
export const MAX_LINKS = 255;

export interface Resolved {
  /** Root-relative path ('' is the root itself) with every existing symlink resolved (except maybe the last). */
  rel: string;
  /** Host path: root + '/' + rel. */
  abs: string;
  /** False when the final component (or a parent) does not exist; rel then ends with the missing part. */
  exists: boolean;
  /** The longest existing, fully resolved prefix (root-relative). */
  existingRel: string;
  /** The components below existingRel that do not exist (empty when `exists`). */
  missing: string[];
}

/** Lexical cleaning of an untrusted path into components: `.`, empty and leading `..` are dropped. */
export function cleanComponents(p: string): string[] {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

/** What a walker finds at one name in a directory it holds. */
export type Step<H> =
  | { kind: 'dir'; handle: H }
  | { kind: 'link'; target: string }
  | { kind: 'other'; handle: H }
  | { kind: 'missing' };

/** How a resolution looks at the filesystem: by path (PathWalker) or by descriptor (fd.ts). */
export interface Walker<H> {
  /** The root, as a handle. */
  root(): H;
  /** Look at `name` inside directory `dir` (whose root-relative components are `at`), never following it. */
  step(dir: H, at: readonly string[], name: string): Step<H>;
  /** Done with a handle (descriptors are closed). */
  release(h: H): void;
}

export interface Walked<H> {
  /** Resolved components of the deepest existing entry reached. */
  comps: string[];
  /**
   * Handle of that entry (the root's when comps is empty), or for an unfollowed final link the
   * handle of the directory holding it; the caller releases it.
   */
  handle: H;
  /** Kind of that entry. */
  kind: 'dir' | 'link' | 'other';
  /**
   * Components below `comps` that do not exist (empty when everything exists); when `kind` is
   * 'other' they were asked for below a file.
   */
  missing: string[];
}

function loop(p: string): KilnError {
  return new KilnError('PATH_SYMLINK_LOOP', `too many levels of symbolic links resolving ${p}`, {
    hint: 'the image or context holds a symlink loop',
  });
}

export interface WalkOptions {
  /** Follow a symlink in the last position (default true); else it is returned as itself. */
  followFinal?: boolean;
  /** Refuse any symlink on the way (PATH_HAS_SYMLINK): for paths kiln made and must find unchanged. */
  refuseLinks?: boolean;
}

/**
 * Walk `p` inside the walker's root. A component below a non-directory counts as missing
 * (ENOTDIR), as it would for the kernel's own lookup.
 */
export function walkInRoot<H>(w: Walker<H>, p: string, opts: WalkOptions = {}): Walked<H> {
  const followFinal = opts.followFinal ?? true;
  const pending = cleanComponents(p);
  const comps: string[] = [];
  const stack: { h: H; kind: 'dir' | 'other' }[] = [{ h: w.root(), kind: 'dir' }];
  let links = 0;
  const up = () => {
    if (comps.length === 0) return;
    comps.pop();
    w.release((stack.pop() as { h: H }).h);
  };
  const finish = (kind: Walked<H>['kind'], missing: string[]): Walked<H> => {
    const last = stack.pop() as { h: H };
    return { comps: [...comps], handle: last.h, kind, missing };
  };
  try {
    while (pending.length > 0) {
      const name = pending.shift() as string;
      if (name === '.' || name === '') continue;
      if (name === '..') {
        up();
        continue;
      }
      const s = w.step(stack[stack.length - 1].h, comps, name);
      // Below a file nothing exists (the kernel says ENOTDIR): what follows it is missing.
      const below = s.kind === 'other' && pending.length > 0;
      if (s.kind === 'missing' || below) {
        if (!pending.includes('..')) {
          if (s.kind === 'missing') return finish('dir', [name, ...pending]);
          comps.push(name);
          stack.push({ h: s.handle, kind: 'other' });
          return finish('other', [...pending]);
        }
        if (below) w.release(s.handle);
        // `missing/..` cannot be looked up, but is meant lexically (continuity cleans joined link
        // targets): clean the rest and resolve it again from the root.
        if (++links > MAX_LINKS) throw loop(p);
        const rest = cleanComponents([...comps, name, ...pending].join('/'));
        while (comps.length > 0) up();
        pending.splice(0, pending.length, ...rest);
        continue;
      }
      if (s.kind === 'link') {
        if (opts.refuseLinks) {
          throw new KilnError('PATH_HAS_SYMLINK', `${[...comps, name].join('/')} in ${p} is a symlink`, {
            hint: 'something replaced a directory kiln made with a symlink; kiln left it alone',
          });
        }
        if (pending.length === 0 && !followFinal) {
          const r = finish('link', []);
          r.comps.push(name);
          return r;
        }
        if (++links > MAX_LINKS) throw loop(p);
        if (s.target.startsWith('/')) while (comps.length > 0) up();
        pending.unshift(...s.target.split('/'));
        continue;
      }
      comps.push(name);
      stack.push({ h: s.handle, kind: s.kind });
    }
    return finish(stack[stack.length - 1].kind, []);
  } finally {
    for (const e of stack) w.release(e.h);
  }
}

/** Walks by host path with lstat: for roots nothing else changes while kiln resolves in them. */
export class PathWalker implements Walker<string[]> {
  readonly rootPath: string;
  private readonly prefix: string;
  constructor(rootPath: string) {
    this.rootPath = rootPath;
    this.prefix = rootPath.endsWith('/') ? rootPath : `${rootPath}/`;
  }
  root(): string[] {
    return [];
  }
  step(dir: string[], at: readonly string[], name: string, retries = 0): Step<string[]> {
    const comps = [...at, name];
    const abs = this.prefix + comps.join('/');
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return { kind: 'missing' };
    if (st.isSymbolicLink()) {
      try {
        return { kind: 'link', target: readlinkSync(abs) };
      } catch (err) {
        // Replaced since the lstat (EINVAL: no longer a link; ENOENT: gone): look again, a few times.
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'EINVAL' && code !== 'ENOENT') || retries >= 3) throw err;
        return this.step(dir, at, name, retries + 1);
      }
    }
    return { kind: st.isDirectory() ? 'dir' : 'other', handle: comps };
  }
  release(): void {}
}

/** Host path of root-relative components. */
export function hostPath(root: string, comps: readonly string[]): string {
  if (comps.length === 0) return root;
  return root.endsWith('/') ? root + comps.join('/') : `${root}/${comps.join('/')}`;
}

/**
 * Resolve `p` inside `root` by path. With `followFinal` false a final symlink is not followed.
 * ENOTDIR on the way counts as missing.
 */
export function resolveInRoot(root: string, p: string, followFinal = true): Resolved {
  let r: Walked<string[]>;
  try {
    r = walkInRoot(new PathWalker(root), p, { followFinal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      // A parent turned out not to be a directory between lstat calls: nothing is there.
      const comps = cleanComponents(p);
      return {
        rel: comps.join('/'),
        abs: hostPath(root, comps),
        exists: false,
        existingRel: '',
        missing: comps,
      };
    }
    throw err;
  }
  const existingRel = r.comps.join('/');
  const all = [...r.comps, ...r.missing];
  const rel = all.join('/');
  return { rel, abs: hostPath(root, all), exists: r.missing.length === 0, existingRel, missing: r.missing };
}
