/**
 * Hard links instead of copies for `COPY --from` a stage or an image: the source is a read-only
 * view of a committed snapshot, whose files live in its layers' own directories (overlay's
 * upper dirs), which kiln never writes again (a later RUN writing to a linked file gets
 * overlayfs's copy-up in its own upper dir). A file the copy would reproduce exactly — same
 * owner, mode, times and content, which is what a link shares — is linked from the layer that
 * holds it: 5,000 files a link each instead of an open, a copy, a chown, a utimes and a close.
 *
 * What is linked is proved to be the file the copy saw: the layer's file is reached without
 * following any symlink (a layer is hostile input), and it must be the very inode the view
 * showed (overlay reports a file's real inode number) with the same size, mode, owner and times.
 * Only files without extended attributes in their layer: overlay keeps its own bookkeeping there
 * (trusted.overlay.origin on a copied-up file), which must not travel to another layer; a copy
 * carries the portable ones instead.
 */
import { join } from 'node:path';
import { readXattrTree, type Xattrs } from '../archive/xattr.ts';
import { FdWalker, fdPath, lstatIn, openDirStrict, openParentStrict } from '../confine/fd.ts';
import { PathWalker, walkInRoot } from '../confine/resolve.ts';
import type { KilnError } from '../errors/errors.ts';
import { closeSync, type Stats } from '../sys/fs.ts';

interface Layer {
  dir: string;
  /** Source paths (srcRoot-relative) whose subtree's attributes were read here, with them. */
  read: Map<string, Map<string, Xattrs>>;
}

export class LayerLinks {
  private readonly layers: Layer[];
  /**
   * Per layer, the directories on the way to the parent last looked up there, its root first, each
   * held open (`fd` undefined: not a real directory of that layer, nor anything below it). The
   * copy walks depth first, so the next file's parent is one of these or below one: it is reached
   * from the nearest, a step or two, not from the layer's root again: W3's `COPY --from=build
   * /app/node_modules` (its `npm ci` layer's 1,386 directories under a `npm prune` layer) spent
   * ~40 ms in walks from the roots, and takes 0.22 s now against 0.26 (medians of 8). Files of one
   * directory come in a row, and each is looked for in every layer down to the one holding it.
   * At most MAX_HELD are held in all (a deep tree in many layers must not run kiln out of
   * descriptors): past that, a lookup walks from the layer's root and keeps only the parent it
   * found, as before.
   */
  private readonly open: OpenDir[][];
  private held = 0;
  /** Reads prefetch() started, by layer index and rel, until prepare() takes them. */
  private readonly early = new Map<string, Promise<Map<string, Xattrs>>>();

  /** Trees read ahead of the step (readLayerTrees), by layer directory and rel: taken, not read. */
  private readonly kept?: (dir: string, rel: string) => Map<string, Xattrs> | undefined;

  /** `dirs`: the layers' own directories, top first, whose union is the copy's srcRoot. */
  constructor(dirs: readonly string[], kept?: (dir: string, rel: string) => Map<string, Xattrs> | undefined) {
    this.layers = dirs.map((dir) => ({ dir, read: new Map() }));
    this.open = dirs.map(() => []);
    this.kept = kept;
  }

  /**
   * Start reading, for the source at `rel` (srcRoot-relative, as the copy will resolve it), what
   * prepare() reads: a step's setup (its snapshot, its mounts) then runs while getfattr walks the
   * layers (W3's node_modules: ~40 ms for its `npm ci` layer's 10,000 entries). A read not taken
   * by prepare() ends unused.
   */
  prefetch(rel: string): void {
    if (rel === '') return;
    for (const [i, layer] of this.layers.entries()) {
      const key = `${i}\0${rel}`;
      if (layer.read.has(rel) || this.early.has(key) || !realPathIn(layer.dir, rel)) continue;
      const kept = this.kept?.(layer.dir, rel);
      const tree = kept ? Promise.resolve(kept) : readXattrTree(join(layer.dir, rel));
      tree.catch(() => {}); // prepare() awaits it; a read never taken must not be unhandled
      this.early.set(key, tree);
    }
  }

  /**
   * Before copying the source at `rel` (srcRoot-relative, resolved): read the extended attributes
   * of what each layer holds there, all layers at once. A whole-root copy is not linked (every
   * layer's every file would be read first).
   */
  async prepare(rel: string): Promise<void> {
    if (rel === '') return;
    const read = await Promise.all(
      this.layers.map(async (layer, i) => {
        const key = `${i}\0${rel}`;
        const early = this.early.get(key);
        this.early.delete(key);
        if (layer.read.has(rel) || !realPathIn(layer.dir, rel)) return undefined;
        return await (early ?? this.kept?.(layer.dir, rel) ?? readXattrTree(join(layer.dir, rel)));
      }),
    );
    for (const [i, tree] of read.entries()) if (tree) this.layers[i].read.set(rel, tree);
  }

  /**
   * The path to link from for the source file at `rel` that the copy lstat'ed as `st`, or
   * undefined (copy it). Valid until the next call or close().
   */
  find(rel: string, st: Stats): string | undefined {
    for (let i = 0; i < this.layers.length; i++) {
      const read = readAt(this.layers[i], rel);
      if (!read) continue;
      const x = read.tree.get(read.key);
      const at = this.parent(i, rel);
      if (!at) continue;
      const found = lstatIn(at, at.name);
      if (!found) continue;
      // The topmost layer with something at `rel` holds what the view shows, or nothing we link.
      if (!sameFile(found, st) || (x && Object.keys(x).length > 0)) return undefined;
      return fdPath(at.fd, at.name);
    }
    return undefined;
  }

  close(): void {
    for (const stack of this.open) while (stack.length > 0) this.closeDir(stack.pop() as OpenDir);
  }

  /** The directory holding `rel` in layer `layer`, reached with no symlink followed, and its name. */
  private parent(layer: number, rel: string): { fd: number; name: string } | undefined {
    const slash = rel.lastIndexOf('/');
    const parentRel = slash < 0 ? '' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    const stack = this.open[layer];
    while (stack.length > 0 && !within(parentRel, (stack.at(-1) as OpenDir).rel))
      this.closeDir(stack.pop() as OpenDir);
    let top = stack.at(-1);
    // The parent itself, or below a directory this layer lacks.
    if (top && (top.rel === parentRel || top.fd === undefined)) return inDir(top, name);
    const from = top?.rel ?? '';
    const rest = parentRel === from ? [] : parentRel.slice(from === '' ? 0 : from.length + 1).split('/');
    if (this.held + rest.length + 1 > MAX_HELD) {
      // Too many held: this layer's are let go, and its parent is walked to from the root.
      while (stack.length > 0) this.closeDir(stack.pop() as OpenDir);
      top = this.hold({ rel: parentRel, fd: openParentStrict(this.layers[layer].dir, rel)?.dir.fd });
      stack.push(top);
      return inDir(top, name);
    }
    // The layer's own directory is kiln's: opened as it is named.
    if (!top) {
      top = this.hold({ rel: '', fd: new FdWalker(this.layers[layer].dir).root() });
      stack.push(top);
    }
    for (const comp of rest) {
      if (top.fd === undefined) break;
      top = this.hold({ rel: top.rel === '' ? comp : `${top.rel}/${comp}`, fd: openDirStrict(top.fd, comp) });
      stack.push(top);
    }
    return inDir(top, name);
  }

  private hold(d: OpenDir): OpenDir {
    if (d.fd !== undefined) this.held++;
    return d;
  }

  private closeDir(d: OpenDir): void {
    if (d.fd === undefined) return;
    closeSync(d.fd);
    this.held--;
  }
}

/** Directories LayerLinks holds open at most, over all layers. */
const MAX_HELD = 256;

/** `name` in the held directory `d`, or undefined when `d` is not a real directory of its layer. */
function inDir(d: OpenDir, name: string): { fd: number; name: string } | undefined {
  return d.fd === undefined ? undefined : { fd: d.fd, name };
}

/** A directory of a layer on the way to a file looked up there (fd undefined: not a real one). */
interface OpenDir {
  rel: string;
  fd: number | undefined;
}

/** `rel` is `dir` or below it ('' is the layer's root). */
function within(rel: string, dir: string): boolean {
  return dir === '' || rel === dir || rel.startsWith(`${dir}/`);
}

/**
 * What LayerLinks.prepare(rel) reads of these layers (their own directories, any order): the
 * attribute tree of each one that holds `rel` through real directories. Read ahead of a `COPY
 * --from` while the RUN before it runs (worker/jobs.ts readAhead), for the layers it leaves alone.
 */
export async function readLayerTrees(
  dirs: readonly string[],
  rel: string,
): Promise<[dir: string, tree: Map<string, Xattrs>][]> {
  if (rel === '') return [];
  const holding = dirs.filter((dir) => realPathIn(dir, rel));
  const trees = await Promise.all(holding.map((dir) => readXattrTree(join(dir, rel))));
  return holding.map((dir, i) => [dir, trees[i]]);
}

/** The attribute tree prepare() read in `layer` for a source holding `rel`, and rel's key in it. */
function readAt(layer: Layer, rel: string): { tree: Map<string, Xattrs>; key: string } | undefined {
  for (const [top, tree] of layer.read) {
    if (rel === top) return { tree, key: '' };
    if (rel.startsWith(`${top}/`)) return { tree, key: rel.slice(top.length + 1) };
  }
  return undefined;
}

/** Every component of `rel` in `dir` is there and none is a symlink. */
function realPathIn(dir: string, rel: string): boolean {
  try {
    return walkInRoot(new PathWalker(dir), rel, { refuseLinks: true }).missing.length === 0;
  } catch (err) {
    if ((err as KilnError).code === 'PATH_HAS_SYMLINK') return false;
    throw err;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return (
    a.isFile() &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}
