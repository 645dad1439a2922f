/**
 * A tree's layer entries made as the layer is written, a chunk at a time: a directory walked in
 * layer order (layerSortKey's order, which finalizeEntries gives a list), the tree's extended
 * attributes read by one getfattr while the walk starts. What is held at once is at most
 * WALK_AHEAD entries, the listings of the directories the walk is inside and the attributes
 * read, not an entry per file of the layer (~500 bytes each: 100 MB for a 200,000-file step, and
 * a RUN decides how many files it makes).
 */

import { KilnError } from '../errors/errors.ts';
import * as fs from '../sys/fs.ts';
import { compareNames, hasSurrogate } from '../sys/fsname.ts';
import {
  entryFromStat,
  type LayerEntry,
  LayerLinks,
  layerNameRank,
  opaqueEntry,
  portableXattrs,
  WHITEOUT_PREFIX,
  whiteoutEntry,
} from './entries.ts';
import { readXattrTree, type Xattrs } from './xattr.ts';

/** A layer's entries in layer order, in chunks (hard links and duplicates already settled). */
export type LayerEntries = AsyncIterable<readonly LayerEntry[]>;

/** Entries handed to the layer writer at a time. */
export const ENTRY_CHUNK = 4096;
/**
 * How far the walk goes while getfattr reads the tree's attributes: a layer of up to this many
 * entries is walked beside the read, as when each layer was a whole list (tens of MB held);
 * past it the walk waits for the read (~0.3 s at 200,000 files), and no more is ever held.
 */
const WALK_AHEAD = 65_536;
/** Entries walked between looks at whether the attributes have been read. */
const WALK_SLICE = 1024;

export interface TreeOptions {
  /** An overlayfs upper directory: char 0:0 devices are whiteouts, opaque directories get a marker. */
  overlay: boolean;
  /** Entries per chunk (tests use small ones to cross chunk edges). */
  chunk?: number;
  /** How far the walk may go before the attributes are read (tests: small, to wait for them). */
  ahead?: number;
}

/** A child of a directory being walked, ranked as layer order ranks its name (layerNameRank). */
interface Child {
  name: string;
  /** The name in the layer: `.wh.<name>` for a whiteout. */
  emit: string;
  rank: number;
  whiteout: boolean;
  /** Taken while listing only when the type needed a look (character devices, unknown types). */
  st?: fs.Stats;
}

interface Frame {
  rel: string;
  abs: string;
  children: Child[];
  next: number;
}

/**
 * A directory's children in layer order: the opaque marker's name first, then whiteouts, then
 * the rest, each group in byte order. Only a possible whiteout (a character device, or an entry
 * whose type the directory did not say) is lstat'd here; the rest when it is emitted.
 */
function listChildren(abs: string, overlay: boolean): Child[] {
  const children: Child[] = [];
  let bytewise = false;
  for (const d of fs.readdirTypedSync(abs)) {
    const name = d.name;
    let st: fs.Stats | undefined;
    let whiteout = false;
    if (overlay && (d.isCharacterDevice() || isUnknown(d))) {
      st = fs.lstatSync(`${abs}/${name}`);
      whiteout = st.isCharacterDevice() && st.rdev === 0;
    }
    const emit = whiteout ? `${WHITEOUT_PREFIX}${name}` : name;
    if (!bytewise && hasSurrogate(emit)) bytewise = true;
    children.push({ name, emit, rank: layerNameRank(emit), whiteout, st });
  }
  children.sort((a, b) => {
    if (a.rank !== b.rank) return a.rank - b.rank;
    if (bytewise) return compareNames(a.emit, b.emit);
    return a.emit < b.emit ? -1 : a.emit > b.emit ? 1 : 0;
  });
  return children;
}

function isUnknown(d: fs.Dirent): boolean {
  return !(
    d.isFile() ||
    d.isDirectory() ||
    d.isSymbolicLink() ||
    d.isCharacterDevice() ||
    d.isBlockDevice() ||
    d.isFIFO() ||
    d.isSocket()
  );
}

/** Every object under `root` as an entry without attributes, in layer order, depth first. */
function* walkLayerOrder(root: string, overlay: boolean): Generator<LayerEntry> {
  const stack: Frame[] = [{ rel: '', abs: root, children: listChildren(root, overlay), next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.children.length) {
      stack.pop();
      continue;
    }
    const child = top.children[top.next++];
    if (child.whiteout) {
      yield whiteoutEntry(top.rel, child.name);
      continue;
    }
    const rel = top.rel ? `${top.rel}/${child.name}` : child.name;
    const abs = `${top.abs}/${child.name}`;
    const st = child.st ?? fs.lstatSync(abs);
    const entry = entryFromStat(rel, abs, st, undefined);
    if (entry) yield entry;
    if (st.isDirectory()) stack.push({ rel, abs, children: listChildren(abs, overlay), next: 0 });
  }
}

function requireDir(dir: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (cause) {
    throw new KilnError('LAYER_SOURCE_MISSING', `${what} ${dir} does not exist`, { cause });
  }
  if (!st.isDirectory()) throw new KilnError('LAYER_SOURCE_MISSING', `${what} ${dir} is not a directory`);
}

function isOpaque(x: Xattrs | undefined): boolean {
  const v = x?.['trusted.overlay.opaque'] ?? x?.['user.overlay.opaque'];
  return v !== undefined && v.toString() === 'y';
}

/**
 * The entries of the tree under `dir` (not `dir` itself), in layer order and in chunks: the
 * second and later paths of one inode become tar hard links to the first, attributes are
 * attached, and for an overlay upper, whiteouts and opaque markers are made. Nothing is walked
 * before the first chunk is asked for; the directory must exist now.
 */
export function treeEntries(dir: string, options: TreeOptions): LayerEntries {
  requireDir(dir, options.overlay ? 'overlay upper directory' : 'directory');
  return chunks(dir, options);
}

async function* chunks(root: string, options: TreeOptions): AsyncGenerator<readonly LayerEntry[]> {
  const size = Math.max(1, options.chunk ?? ENTRY_CHUNK);
  const walk = walkLayerOrder(root, options.overlay);
  // One getfattr reads the whole tree (~3 µs a file) while the walk goes ahead of it, as far as
  // WALK_AHEAD entries; nothing is handed on before the attributes are known.
  const reading = readXattrTree(root);
  let read = false;
  reading.then(
    () => (read = true),
    () => (read = true),
  );
  const ahead: LayerEntry[] = [];
  const most = Math.max(1, options.ahead ?? WALK_AHEAD);
  let walked = false;
  while (!read && !walked && ahead.length < most) {
    for (let n = Math.min(WALK_SLICE, most - ahead.length); n > 0; n--) {
      const r = walk.next();
      if (r.done) {
        walked = true;
        break;
      }
      ahead.push(r.value);
    }
    // Let the reading's end be seen, and the build's other work run.
    if (!walked) await new Promise((resolve) => setImmediate(resolve));
  }
  const xattrs = await reading;
  const links = new LayerLinks();
  const settle = (entries: LayerEntry[]): LayerEntry[] => {
    const out: LayerEntry[] = [];
    for (const e of entries) {
      const x = e.data === undefined ? xattrs.get(e.header.path) : undefined;
      if (x !== undefined) {
        if (options.overlay && (x['trusted.overlay.metacopy'] || x['trusted.overlay.redirect'])) {
          // The upper object's data or identity lives in a lower layer: a tar of upper would lose it.
          throw new KilnError(
            'LAYER_OVERLAY_UNSUPPORTED',
            `${root}/${e.header.path} uses overlayfs metacopy/redirect_dir`,
            { hint: "mount the overlay with metacopy=off,redirect_dir=off (as kiln's snapshotter does)" },
          );
        }
        const portable = portableXattrs(x);
        if (Object.keys(portable).length > 0) e.header = { ...e.header, xattrs: portable };
      }
      links.settle(e);
      out.push(e);
      // The marker sorts first among the directory's children: right after the directory.
      if (options.overlay && e.header.type === 'directory' && isOpaque(x)) {
        const marker = opaqueEntry(e.header.path, e.header);
        links.settle(marker);
        out.push(marker);
      }
    }
    return out;
  };
  for (let i = 0; i < ahead.length; i += size) yield settle(ahead.slice(i, i + size));
  ahead.length = 0;
  for (;;) {
    const entries: LayerEntry[] = [];
    while (entries.length < size) {
      const r = walk.next();
      if (r.done) break;
      entries.push(r.value);
    }
    if (entries.length === 0) return;
    yield settle(entries);
  }
}

/** An overlayfs upper directory as a layer: 0:0 character devices become `.wh.<name>`, opaque
 * directories (trusted.overlay.opaque=y) get `.wh..wh..opq`. Assumes the overlay was mounted
 * without redirect_dir/metacopy, as kiln's snapshotter does (a tree that uses them is refused). */
export async function diffOverlayUpper(upper: string): Promise<LayerEntries> {
  return treeEntries(upper, { overlay: true });
}

/** Every object under `dir` (not `dir` itself) as layer entries. */
export async function directoryEntries(dir: string): Promise<LayerEntries> {
  return treeEntries(dir, { overlay: false });
}

/** Entries already in memory (a diff of two trees, a synthetic layer) as a LayerEntries. */
export async function* entriesOf(entries: readonly LayerEntry[]): AsyncGenerator<readonly LayerEntry[]> {
  if (entries.length > 0) yield entries;
}

/** All of them in one list: for tests and small trees (a whole layer in memory). */
export async function collectEntries(entries: LayerEntries): Promise<LayerEntry[]> {
  const all: LayerEntry[] = [];
  for await (const chunk of entries) for (const e of chunk) all.push(e);
  return all;
}

/** `entries`, or undefined when there are none (the first chunk is read to know). */
export async function nonEmpty(entries: LayerEntries): Promise<LayerEntries | undefined> {
  const it = entries[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) return undefined;
    if (r.value.length > 0) {
      const first = r.value;
      return (async function* () {
        yield first;
        for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
      })();
    }
  }
}
