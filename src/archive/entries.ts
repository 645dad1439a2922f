/**
 * Layer entries: what goes into a layer tar, taken from the filesystem. A LayerEntry is a
 * complete tar header plus where its content comes from; `finalizeEntries` sorts a list of them,
 * turns repeated inodes into tar hardlinks and clamps mtimes, so every source yields the same
 * layout (tree-entries.ts makes a tree's entries in that order as a layer is written).
 */
import path from 'node:path';
import { KilnError } from '../errors/errors.ts';
import * as fs from '../sys/fs.ts';
import { compareNames, encodeName, hasSurrogate, sortNames } from '../sys/fsname.ts';
import type { FileIdentity } from './layer-index.ts';
import { completeHeader, NO_XATTRS, type TarEntryType, type TarHeader } from './tar/header.ts';
import { isPortableXattr, type Xattrs } from './xattr.ts';

export interface LayerEntry {
  /** header.path is relative to the layer root: no leading './' or '/', no trailing '/'. */
  header: TarHeader;
  /** Regular files: the host file to read the content from (size taken from header.size). */
  source?: string;
  /** Or content already in memory (whiteouts and synthetic files). */
  data?: Buffer;
  /** `dev:ino` of a regular file with more than one link, for hardlink detection. */
  inode?: string;
  /** A regular file's inode as lstat saw it (layer-index.ts: where an earlier blob holds it). */
  file?: FileIdentity;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

function typeOf(st: fs.Stats): TarEntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets: not representable in tar, skipped like GNU tar does
}

/** Linux dev_t → (major, minor), as glibc's gnu_dev_major/minor. */
export function splitDev(rdev: number): [number, number] {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/** Build the entry for one filesystem object (lstat'd; symlinks are not followed). */
export function entryFromStat(
  rel: string,
  abs: string,
  st: fs.Stats,
  xattrs: Xattrs | undefined,
): LayerEntry | undefined {
  const type = typeOf(st);
  if (!type) return undefined;
  const portable = portableXattrs(xattrs);
  const [devmajor, devminor] = type === 'char' || type === 'block' ? splitDev(st.rdev) : [0, 0];
  const header = completeHeader({
    path: rel,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    // Whole seconds, as Docker and containerd write layers: sub-second mtimes would cost a PAX
    // header per file and make layers differ by filesystem timestamp granularity.
    mtime: Math.floor(st.mtimeMs / 1000),
    linkname: type === 'symlink' ? fs.readlinkSync(abs) : '',
    devmajor,
    devminor,
    xattrs: portable,
  });
  const entry: LayerEntry = { header };
  if (type === 'file') {
    entry.source = abs;
    entry.file = { ino: st.ino, birthtimeMs: st.birthtimeMs, mtimeMs: st.mtimeMs, size: st.size };
    if (st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
  }
  return entry;
}

/** The attributes of `xattrs` a layer carries. */
export function portableXattrs(xattrs: Xattrs | undefined): Xattrs {
  if (xattrs === undefined) return NO_XATTRS as Xattrs;
  const portable: Xattrs = {};
  for (const [k, v] of Object.entries(xattrs)) if (isPortableXattr(k)) portable[k] = v;
  return portable;
}

/**
 * `.wh.<name>`: the header BuildKit writes (containerd's ChangeWriter since 2.0) — an empty
 * regular file, mode 0, owned by 0:0, mtime 0 — so a layer does not depend on when it was made.
 */
export function whiteoutEntry(dir: string, name: string): LayerEntry {
  const p = dir ? `${dir}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`;
  return {
    header: completeHeader({ path: p, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 }),
    data: Buffer.alloc(0),
  };
}

/**
 * `<dir>/.wh..wh..opq`. BuildKit writes none (it lists the lower entries one by one); Docker's
 * overlay exporter does, as an empty regular file with the directory's permission bits and
 * owner, and mtime 0. kiln matches that.
 */
export function opaqueEntry(dir: string, of: Pick<TarHeader, 'mode' | 'uid' | 'gid'>): LayerEntry {
  const p = dir ? `${dir}/${OPAQUE_WHITEOUT}` : OPAQUE_WHITEOUT;
  return {
    header: completeHeader({
      path: p,
      type: 'file',
      mode: of.mode & 0o777,
      uid: of.uid,
      gid: of.gid,
      mtime: 0,
    }),
    data: Buffer.alloc(0),
  };
}

/** Names in a directory in byte order (as Go sorts them; never locale order). */
export function sortedNames(dir: string): string[] {
  return sortNames(fs.readdirSync(dir));
}

export interface FinalizeOptions {
  /** SOURCE_DATE_EPOCH: no mtime in the layer is later than this (seconds). */
  sourceDateEpoch?: number;
}

/**
 * A key whose plain string order is layer order: a directory, then its children, depth first
 * (as a tree walk visits them, which is BuildKit's order: `a/`, `a/b`, `a.c`), and within a
 * directory the opaque marker first, then the whiteouts, then the other names in byte order.
 * The OCI layer spec asks for whiteouts before their siblings: an extractor applying entries in
 * order would otherwise delete what the layer itself just added (`d/.a` sorts before
 * `d/.wh..wh..opq` by bytes). Each name gets a rank character before it and '/' becomes NUL,
 * which no name holds, so a name that ends sorts before a longer one.
 */
export function layerSortKey(path: string): string {
  let key = '';
  for (const name of path.split('/')) {
    const rank = String.fromCharCode(layerNameRank(name));
    key += key ? `\x00${rank}${name}` : `${rank}${name}`;
  }
  return key;
}

/** Where a name goes among its siblings in layer order: the opaque marker 1, whiteouts 2, others 3. */
export function layerNameRank(name: string): 1 | 2 | 3 {
  return name === OPAQUE_WHITEOUT ? 1 : name.startsWith(WHITEOUT_PREFIX) ? 2 : 3;
}

/** Compare two layer paths in layer order (layerSortKey); `bytewise` for names with surrogates. */
export function compareLayerPaths(a: string, b: string, bytewise = false): number {
  const ka = layerSortKey(a);
  const kb = layerSortKey(b);
  if (bytewise) return compareNames(ka, kb);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Sort in layer order (layerSortKey), make the second and later paths of one inode tar
 * hardlinks to the first, and clamp mtimes. Mutates and returns `entries`.
 */
export function finalizeEntries(entries: LayerEntry[], options: FinalizeOptions = {}): LayerEntry[] {
  // Only surrogates (astral characters, escaped bytes) need byte-order keys; otherwise UTF-16
  // order is byte order. Paths without a whiteout name sort by themselves with '/' as NUL (the
  // same order layerSortKey gives them, at a fraction of the cost: most layers have none).
  const bytewise = entries.some((e) => hasSurrogate(e.header.path));
  const recs = entries.map((e) => {
    const flat = e.header.path.replaceAll('/', '\x00');
    return { e, key: bytewise ? encodeName(flat) : flat, wh: e.header.path.includes(WHITEOUT_PREFIX) };
  });
  recs.sort((x, y) => {
    if (x.wh || y.wh) return compareLayerPaths(x.e.header.path, y.e.header.path, bytewise);
    if (bytewise) return Buffer.compare(x.key as Buffer, y.key as Buffer);
    return x.key < y.key ? -1 : x.key > y.key ? 1 : 0;
  });
  for (let i = 0; i < recs.length; i++) entries[i] = recs[i].e;
  const links = new LayerLinks();
  const epoch = options.sourceDateEpoch;
  for (const e of entries) {
    links.settle(e);
    if (epoch !== undefined && e.header.mtime > epoch) e.header = { ...e.header, mtime: epoch };
  }
  return entries;
}

/**
 * What entries taken in layer order settle with each other: the second and later paths of one
 * inode become tar hard links to the first, and a path may not come twice.
 */
export class LayerLinks {
  private readonly firstPath = new Map<string, string>();
  private previous: string | undefined;

  /** Settle `e`, the entry after the last one given, in place. */
  settle(e: LayerEntry): void {
    if (e.header.path === this.previous)
      throw new KilnError('LAYER_DUPLICATE_PATH', `layer entry "${e.header.path}" appears twice`);
    this.previous = e.header.path;
    if (!e.inode) return;
    const first = this.firstPath.get(e.inode);
    if (first === undefined) this.firstPath.set(e.inode, e.header.path);
    else {
      e.header = { ...e.header, type: 'hardlink', linkname: first, size: 0 };
      e.source = undefined;
    }
  }
}

type Visit = (rel: string, abs: string, st: fs.Stats) => boolean | undefined;

/** Depth-first walk in sorted order; `visit` returns false to skip a directory's children. */
export function walkTree(root: string, visit: Visit, rel = ''): void {
  const dirAbs = rel ? path.join(root, rel) : root;
  for (const name of sortedNames(dirAbs)) {
    const childRel = rel ? `${rel}/${name}` : name;
    const abs = path.join(root, childRel);
    const st = fs.lstatSync(abs);
    const descend = visit(childRel, abs, st);
    if (st.isDirectory() && descend !== false) walkTree(root, visit, childRel);
  }
}
