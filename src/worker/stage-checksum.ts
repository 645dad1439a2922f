/**
 * The checksum of what a COPY --from reads of another stage's filesystem (BuildKit's
 * content-based cache): the context checksum's walk over the stage's mounted snapshot, with what
 * a copy from a stage keeps and a context does not — owners, device numbers, hard links within
 * the copy and extended attributes — so two filesystems that would copy differently never share
 * it. Committed snapshots never change: a checksum is kept per (snapshot, what was read).
 */
import { join } from 'node:path';
import { isPortableXattr, readXattrTree, type Xattrs } from '../archive/xattr.ts';
import { checksum, expandSources } from '../context/checksum.ts';
import type { WalkEntry } from '../context/walk.ts';
import type { CopyAction } from '../graph/ops.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { lstatSync } from '../sys/fs.ts';
import { withStatePath } from './mounted.ts';
import { type FsState, top } from './state.ts';

/** Where checksums of committed snapshots are kept (the build cache). */
export interface SumStore {
  getSum(snapshot: string, what: string): string | undefined;
  putSum(snapshot: string, what: string, sum: string): void;
}

/** Bumped when what goes into a checksum changes, so older stored ones are not reused. */
const VERSION = 'stage-checksum/1';

/** What of a copy decides which files it reads (the rest is in the step's digest). */
function readsOf(copies: readonly CopyAction[]): unknown[] {
  return copies.map((c) => [
    c.srcPaths,
    c.allowWildcard,
    c.followSymlinks,
    c.allowEmptyWildcard,
    c.excludePatterns,
    c.unpack,
  ]);
}

/** The checksum of what `copies` read of `state`, one part per copy. */
export async function stageChecksum(
  sn: Snapshotter,
  sums: SumStore | undefined,
  state: FsState,
  copies: readonly CopyAction[],
  signal: AbortSignal,
): Promise<string> {
  const snapshot = top(state);
  // A copy from an empty filesystem fails when it runs; its key need not say more.
  if (snapshot === undefined) return 'scratch';
  const what = JSON.stringify([VERSION, readsOf(copies)]);
  const known = sums?.getSum(snapshot, what);
  if (known) return known;
  const sum = await withStatePath(sn, state, async (root) => {
    const parts: string[] = [];
    for (const c of copies) {
      signal.throwIfAborted();
      parts.push(await copyChecksum(root, c));
    }
    return parts.join(',');
  });
  sums?.putSum(snapshot, what, sum);
  return sum;
}

/** One copy's read of a stage root: the context walk plus what a stage's files carry besides. */
async function copyChecksum(root: string, copy: CopyAction): Promise<string> {
  const paths = copy.srcPaths.map((p) => (p === '/' ? '.' : p));
  const wildcard = copy.allowWildcard;
  const followSymlinks = copy.followSymlinks;
  // Extended attributes (file capabilities) travel with a copy from a stage: one getfattr run
  // per source, as the copy itself does.
  const xattrs = new Map<string, Xattrs>();
  const sources = expandSources(root, paths, {
    wildcard,
    followSymlinks,
    allowEmptyWildcard: copy.allowEmptyWildcard,
  });
  for (const s of new Set(sources.map((x) => x.rel))) {
    for (const [k, x] of await readXattrTree(s === '' ? root : join(root, s))) {
      const portable = Object.entries(x).filter(([n]) => isPortableXattr(n));
      if (portable.length > 0)
        xattrs.set(s === '' ? k : k === '' ? s : `${s}/${k}`, Object.fromEntries(portable));
    }
  }
  // The copy links a file to the first copy of its inode (fileops/copy.ts): record which.
  const inodes = new Map<string, string>();
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const extra = (path: string, e: WalkEntry): string => {
    const out: unknown[] = [];
    if (e.type === 'file' && e.nlink > 1) {
      const id = `${e.dev}:${e.ino}`;
      const first = inodes.get(id);
      if (first === undefined) inodes.set(id, path);
      else out.push(['link', first]);
    }
    if (e.type === 'other') out.push(['rdev', lstatSync(prefix + path).rdev]);
    const x = xattrs.get(path);
    if (x)
      out.push([
        'xattrs',
        Object.keys(x)
          .sort()
          .map((n) => [n, x[n].toString('base64')]),
      ]);
    return out.length ? JSON.stringify(out) : '';
  };
  return checksum({
    root,
    paths,
    wildcard,
    followSymlinks,
    copyExcludePatterns: copy.excludePatterns,
    allowEmptyWildcard: copy.allowEmptyWildcard,
    ownership: true,
    localContext: false,
    extra,
  });
}
