/**
 * The checksum of what a COPY --from reads of another stage's filesystem (BuildKit's
 * content-based cache): the context checksum's walk over the stage's mounted snapshot, with what
 * a copy from a stage keeps and a context does not — owners, device numbers, hard links within
 * the copy and extended attributes — so two filesystems that would copy differently never share
 * it. Committed snapshots never change: a checksum is kept per (snapshot, what was read), and
 * is taken of the lowest snapshot of the chain that reads the same (layers above it that leave
 * the copied paths alone are skipped), so a stage whose last step changed something else (tsc
 * writing /app/dist) does not have its /app/node_modules read again. The extended attributes it
 * reads are kept for the copy that follows (XattrTrees), which then does not read them again.
 */
import { join } from 'node:path';
import { isPortableXattr, readXattrs, readXattrTree, type Xattrs } from '../archive/xattr.ts';
import { checksum, expandSources } from '../context/checksum.ts';
import type { InodeDigests } from '../context/inodedigests.ts';
import { containsWildcards } from '../context/resolve.ts';
import type { WalkEntry } from '../context/walk.ts';
import { sha256 } from '../digest/digest.ts';
import { isErrno } from '../errors/errors.ts';
import { goClean } from '../frontend/dockerignore/index.ts';
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

/**
 * The attribute trees (getfattr -R) stage checksums of one build read, by the snapshot read and
 * the source's root-relative path: a cold COPY --from reads the same trees of the same
 * snapshot right after its checksum, and takes them from here instead (a committed snapshot
 * never changes). Also, by a layer's own directory, the trees a RUN's read ahead took of the
 * layers a later copy links from (fileops/layer-links.ts readLayerTrees). Each is taken once; bounded in count and bytes, as what is kept outlives the
 * checksum (a step served from the cache never takes its trees): a bigger one is read again.
 */
export class XattrTrees {
  private readonly trees = new Map<string, { tree: Map<string, Xattrs>; bytes: number }>();
  private bytes = 0;

  keep(snapshot: string, rel: string, tree: Map<string, Xattrs>): void {
    const bytes = treeBytes(tree);
    if (bytes === undefined) return;
    this.take(snapshot, rel);
    this.trees.set(`${snapshot}\0${rel}`, { tree, bytes });
    this.bytes += bytes;
    // Oldest first out: the copy of a checksum follows it closely.
    for (const k of this.trees.keys()) {
      if (this.trees.size <= MAX_KEPT_TREES && this.bytes <= MAX_KEPT_BYTES) break;
      this.take(k.slice(0, k.indexOf('\0')), k.slice(k.indexOf('\0') + 1));
    }
  }

  take(snapshot: string, rel: string): Map<string, Xattrs> | undefined {
    const key = `${snapshot}\0${rel}`;
    const kept = this.trees.get(key);
    if (!kept) return undefined;
    this.trees.delete(key);
    this.bytes -= kept.bytes;
    return kept.tree;
  }
}

/** How many trees are kept, and how many bytes of names and values (one tree, all of them). */
const MAX_KEPT_TREES = 64;
const MAX_KEPT_TREE_BYTES = 4 << 20;
const MAX_KEPT_BYTES = 16 << 20;

/** A tree's paths, names and values in bytes, or undefined past MAX_KEPT_TREE_BYTES. */
function treeBytes(tree: Map<string, Xattrs>): number | undefined {
  let n = 0;
  for (const [path, x] of tree) {
    n += path.length;
    for (const [name, v] of Object.entries(x)) n += name.length + v.length;
    if (n > MAX_KEPT_TREE_BYTES) return undefined;
  }
  return n;
}

/** Bumped when what goes into a checksum changes, so older stored ones are not reused. */
const VERSION = 'stage-checksum/2';

/**
 * The mark of a sum whose read of the copies followed a link (`indirect:<sum>`; see
 * stageChecksum): the sum of that snapshot as a stage's top, never one a state above it may skip
 * down to, since what the link leads to may have changed there.
 */
const INDIRECT = 'indirect:';

/** How many layers down the skip looks (each costs a few lstats and a getfattr or two). */
const MAX_SKIPPED = 64;

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
  /** Where the attribute trees read are kept for the copy (see XattrTrees). */
  trees?: XattrTrees,
  /** File digests kept by inode across builds: a changed stage's unchanged files are not read. */
  inodes?: InodeDigests,
): Promise<string> {
  // A copy from an empty filesystem fails when it runs; its key need not say more.
  if (top(state) === undefined) return 'scratch';
  const what = JSON.stringify([VERSION, readsOf(copies)]);
  const lowest = await lowestReadingTheSame(sn, state, copies);
  for (const s of lowest === state ? [state] : [lowest, state]) {
    const snapshot = top(s) as string;
    const known = sums?.getSum(snapshot, what);
    if (known?.startsWith(INDIRECT)) {
      if (s === state) return known.slice(INDIRECT.length);
      continue;
    }
    if (known) return known;
    const read = await withStatePath(sn, s, async (root) => {
      const parts: string[] = [];
      const kept: [string, Map<string, Xattrs>][] = [];
      let direct = true;
      for (const c of copies) {
        signal.throwIfAborted();
        const r = await copyChecksum(root, c, inodes);
        parts.push(r.sum);
        kept.push(...r.trees);
        direct &&= r.direct;
      }
      return { sum: parts.join(','), direct, trees: kept };
    });
    // What the copy will read (the top's trees): a lower snapshot read directly holds the same.
    if (s === state || read.direct)
      for (const [rel, tree] of read.trees) trees?.keep(top(state) as string, rel, tree);
    // A source path that leads through a link may read what a skipped layer changed: the top
    // is read itself, and this snapshot's sum kept marked, as one to skip to no more for these
    // copies (whether it was read as the top or not: a later state over it skips down to it).
    sums?.putSum(snapshot, what, read.direct ? read.sum : `${INDIRECT}${read.sum}`);
    if (s !== state && !read.direct) continue;
    return read.sum;
  }
  throw new Error('unreachable: the top snapshot is always read');
}

/**
 * A copy's source path as a root-relative one ('' for the root), or undefined when it holds
 * wildcards (what it names is known only by matching).
 */
export function literalSource(p: string): string | undefined {
  const rel = goClean(`/${p}`).slice(1);
  return containsWildcards(rel) ? undefined : rel;
}

/**
 * The shortest prefix of the chain whose filesystem holds the same at every path the copies
 * read: a layer is skipped when its own directory (overlay's upper) has nothing at a source path
 * or below it, and nothing at a path leading there but plain directories that neither are opaque
 * nor stand over a non-directory below. Wildcards, a copy of `/`, or a driver that keeps full
 * copies (no own directories) read the whole chain's top.
 */
async function lowestReadingTheSame(
  sn: Snapshotter,
  state: FsState,
  copies: readonly CopyAction[],
): Promise<FsState> {
  const paths: string[][] = [];
  for (const c of copies)
    for (const p of c.srcPaths) {
      const clean = literalSource(p);
      if (!clean) return state;
      paths.push(clean.split('/'));
    }
  const layers = state.layers;
  const own: (string | undefined)[] = [];
  const ownDir = async (i: number) => {
    own[i] ??= await sn.ownDir(layers[i].snapshot);
    return own[i];
  };
  let k = layers.length - 1;
  while (k > 0 && layers.length - 1 - k < MAX_SKIPPED) {
    const dir = await ownDir(k);
    if (dir === undefined || (await touches(k, dir))) break;
    k--;
  }
  return k === layers.length - 1 ? state : { kind: 'fs', layers: layers.slice(0, k + 1) };

  async function touches(k: number, dir: string): Promise<boolean> {
    for (const comps of paths) {
      for (let i = 0; i < comps.length; i++) {
        const rel = comps.slice(0, i + 1).join('/');
        const kind = kindAt(dir, rel);
        if (kind === 'absent') break; // nothing of this layer at or below here
        if (i === comps.length - 1 || kind === 'other') return true;
        if (isOpaque(await readXattrs(join(dir, rel)))) return true;
        // A directory standing over a non-directory below hides it (overlay merges directories only).
        if (await overNonDirectory(k, rel)) return true;
      }
    }
    return false;
  }

  /** Whether the nearest layer below `k` with something at `rel` may have a non-directory there. */
  async function overNonDirectory(k: number, rel: string): Promise<boolean> {
    for (let m = k - 1; m >= 0; m--) {
      const dir = await ownDir(m);
      if (dir === undefined) return true;
      const kind = kindAt(dir, rel);
      if (kind !== 'absent') return kind === 'other';
    }
    return false;
  }
}

/**
 * What a layer's own directory has at `rel`, each component lstat'ed in turn (never through a
 * link a layer holds): absent, a directory, or something else (also a non-directory on the way).
 */
function kindAt(dir: string, rel: string): 'absent' | 'dir' | 'other' {
  let at = dir;
  for (const c of rel.split('/')) {
    at = join(at, c);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(at);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 'absent';
      throw err;
    }
    if (!st.isDirectory()) return 'other';
  }
  return 'dir';
}

function isOpaque(x: Xattrs): boolean {
  const v = x['trusted.overlay.opaque'] ?? x['user.overlay.opaque'];
  return v !== undefined && v.toString() === 'y';
}

/** One copy's read of a stage root: the context walk plus what a stage's files carry besides. */
async function copyChecksum(
  root: string,
  copy: CopyAction,
  byInode: InodeDigests | undefined,
): Promise<{ sum: string; direct: boolean; trees: [string, Map<string, Xattrs>][] }> {
  const paths = copy.srcPaths.map((p) => (p === '/' ? '.' : p));
  const wildcard = copy.allowWildcard;
  const followSymlinks = copy.followSymlinks;
  const sources = expandSources(root, paths, {
    wildcard,
    followSymlinks,
    allowEmptyWildcard: copy.allowEmptyWildcard,
  });
  // Extended attributes (file capabilities) travel with a copy from a stage: one getfattr run
  // per source, as the copy itself does, read while the walk below hashes the files.
  const rels = [...new Set(sources.map((x) => x.rel))];
  const trees = Promise.all(rels.map((s) => readXattrTree(s === '' ? root : join(root, s))));
  trees.catch(() => {}); // awaited below; a failure while the walk runs is not unhandled
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
    return out.length ? JSON.stringify(out) : '';
  };
  const walked = checksum({
    root,
    paths,
    wildcard,
    followSymlinks,
    copyExcludePatterns: copy.excludePatterns,
    allowEmptyWildcard: copy.allowEmptyWildcard,
    ownership: true,
    localContext: false,
    inodes: byInode,
    extra,
  });
  // Every portable attribute under the sources, by root-relative path (those of a file --exclude
  // leaves out count too: a miss at worst, never a hit).
  const xattrs: [string, [string, string][]][] = [];
  const read = await trees;
  for (const [i, tree] of read.entries()) {
    const s = rels[i];
    for (const [k, x] of tree) {
      const portable = Object.keys(x)
        .filter(isPortableXattr)
        .sort()
        .map((n): [string, string] => [n, x[n].toString('base64')]);
      if (portable.length > 0) xattrs.push([s === '' ? k : k === '' ? s : `${s}/${k}`, portable]);
    }
  }
  xattrs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const sum = xattrs.length ? sha256(JSON.stringify([walked, xattrs])) : walked;
  // Whether every source is where its path names it (no link followed on the way).
  return {
    sum,
    direct: sources.every((x) => x.rel === x.source),
    trees: read.map((tree, i) => [rels[i], tree]),
  };
}
