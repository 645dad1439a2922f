/**
 * Layer entries: what goes into a layer tar, taken from the filesystem. A LayerEntry is a
 * complete tar header plus where its content comes from; `finalizeEntries` sorts them, turns
 * repeated inodes into tar hardlinks and clamps mtimes, so every source yields the same layout.
 */
import path from 'node:path';
import { KilnError } from '../errors/errors.ts';
import * as fs from '../sys/fs.ts';
import { compareNames, encodeName, hasSurrogate, sortNames } from '../sys/fsname.ts';
import { completeHeader, NO_XATTRS, type TarEntryType, type TarHeader } from './tar/header.ts';
import { isPortableXattr, readXattrTree, type Xattrs } from './xattr.ts';

export interface LayerEntry {
  /** header.path is relative to the layer root: no leading './' or '/', no trailing '/'. */
  header: TarHeader;
  /** Regular files: the host file to read the content from (size taken from header.size). */
  source?: string;
  /** Or content already in memory (whiteouts and synthetic files). */
  data?: Buffer;
  /** `dev:ino` of a regular file with more than one link, for hardlink detection. */
  inode?: string;
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
    if (st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
  }
  return entry;
}

/** The attributes of `xattrs` a layer carries. */
function portableXattrs(xattrs: Xattrs | undefined): Xattrs {
  if (xattrs === undefined) return NO_XATTRS as Xattrs;
  const portable: Xattrs = {};
  for (const [k, v] of Object.entries(xattrs)) if (isPortableXattr(k)) portable[k] = v;
  return portable;
}

/**
 * Start reading the attributes of every file under `dir`. getfattr is a process of its own
 * (~0.1 s for 20,000 files): the walk that makes the entries runs meanwhile, and `attach` puts
 * the attributes on them after (a committed snapshot does not change in between).
 */
function startXattrs(dir: string): Promise<Map<string, Xattrs>> {
  const reading = readXattrTree(dir);
  reading.catch(() => {}); // awaited after the walk; a failure then is the caller's
  return reading;
}

/**
 * Give each entry made with no attributes its own from `xattrs` (keyed by path); `each` sees an
 * entry and its attributes first (to refuse some, or make another entry).
 */
function attachXattrs(
  entries: readonly LayerEntry[],
  xattrs: Map<string, Xattrs>,
  each?: (e: LayerEntry, x: Xattrs) => void,
): void {
  if (xattrs.size === 0) return;
  for (const e of entries) {
    const x = xattrs.get(e.header.path);
    if (x === undefined) continue;
    each?.(e, x);
    const portable = portableXattrs(x);
    if (Object.keys(portable).length > 0) e.header = { ...e.header, xattrs: portable };
  }
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
    const rank = name === OPAQUE_WHITEOUT ? '\x01' : name.startsWith(WHITEOUT_PREFIX) ? '\x02' : '\x03';
    key += key ? `\x00${rank}${name}` : `${rank}${name}`;
  }
  return key;
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
  const firstPath = new Map<string, string>();
  const epoch = options.sourceDateEpoch;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (i > 0 && entries[i - 1].header.path === e.header.path) {
      throw new KilnError('LAYER_DUPLICATE_PATH', `layer entry "${e.header.path}" appears twice`);
    }
    if (e.inode) {
      const first = firstPath.get(e.inode);
      if (first === undefined) firstPath.set(e.inode, e.header.path);
      else {
        e.header = { ...e.header, type: 'hardlink', linkname: first, size: 0 };
        e.source = undefined;
      }
    }
    if (epoch !== undefined && e.header.mtime > epoch) e.header = { ...e.header, mtime: epoch };
  }
  return entries;
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

function requireDir(dir: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (cause) {
    throw new KilnError('LAYER_SOURCE_MISSING', `${what} ${dir} does not exist`, { cause });
  }
  if (!st.isDirectory()) throw new KilnError('LAYER_SOURCE_MISSING', `${what} ${dir} is not a directory`);
}

/** Every object under `dir` (not `dir` itself) as layer entries, in layer order. */
export async function directoryEntries(dir: string, options: FinalizeOptions = {}): Promise<LayerEntry[]> {
  requireDir(dir, 'directory');
  const reading = startXattrs(dir);
  const entries: LayerEntry[] = [];
  walkTree(dir, (rel, abs, st) => {
    const e = entryFromStat(rel, abs, st, undefined);
    if (e) entries.push(e);
    return true;
  });
  attachXattrs(entries, await reading);
  return finalizeEntries(entries, options);
}

function isOpaque(x: Xattrs | undefined): boolean {
  const v = x?.['trusted.overlay.opaque'] ?? x?.['user.overlay.opaque'];
  return v !== undefined && v.toString() === 'y';
}

/**
 * An overlayfs upper directory as a layer: a 0/0 character device (overlay's whiteout) becomes
 * `.wh.<name>`, a directory marked opaque (trusted.overlay.opaque=y) gets `.wh..wh..opq`.
 * Assumes the overlay was mounted without redirect_dir/metacopy, as kiln's snapshotter does.
 */
export async function diffOverlayUpper(
  upperDir: string,
  options: FinalizeOptions = {},
): Promise<LayerEntry[]> {
  requireDir(upperDir, 'overlay upper directory');
  const reading = startXattrs(upperDir);
  const entries: LayerEntry[] = [];
  // Whiteouts and opaque markers: entries of their own, not the attributes' objects.
  const marks: LayerEntry[] = [];
  walkTree(upperDir, (rel, abs, st) => {
    const slash = rel.lastIndexOf('/');
    const dir = slash < 0 ? '' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    if (st.isCharacterDevice() && st.rdev === 0) {
      marks.push(whiteoutEntry(dir, name));
      return false;
    }
    const e = entryFromStat(rel, abs, st, undefined);
    if (e) entries.push(e);
    return true;
  });
  attachXattrs(entries, await reading, (e, x) => {
    if (x['trusted.overlay.metacopy'] || x['trusted.overlay.redirect']) {
      // The upper object's data or identity lives in a lower layer: a tar of upper would lose it.
      const abs = path.join(upperDir, e.header.path);
      throw new KilnError('LAYER_OVERLAY_UNSUPPORTED', `${abs} uses overlayfs metacopy/redirect_dir`, {
        hint: "mount the overlay with metacopy=off,redirect_dir=off (as kiln's snapshotter does)",
      });
    }
    if (e.header.type === 'directory' && isOpaque(x)) marks.push(opaqueEntry(e.header.path, e.header));
  });
  entries.push(...marks);
  return finalizeEntries(entries, options);
}
