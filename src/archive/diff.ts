/**
 * Compare two full trees (a lower and a copied-then-modified upper, for the copying
 * snapshotter) and produce the layer entries that turn lower into upper: added and changed
 * objects, `.wh.` whiteouts for deletions, opaque markers where a directory replaced a non-dir.
 */
import path from 'node:path';
import * as fs from '../sys/fs.ts';
import {
  entryFromStat,
  type FinalizeOptions,
  finalizeEntries,
  type LayerEntry,
  opaqueEntry,
  sortedNames,
  walkTree,
  whiteoutEntry,
} from './entries.ts';
import { isPortableXattr, readXattrTree, type Xattrs } from './xattr.ts';

function sameXattrs(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const ka = Object.keys(a ?? {})
    .filter(isPortableXattr)
    .sort();
  const kb = Object.keys(b ?? {})
    .filter(isPortableXattr)
    .sort();
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !(a as Xattrs)[ka[i]].equals((b as Xattrs)[kb[i]])) return false;
  }
  return true;
}

const KIND_MASK = 0o170000;

/** Same content, compared in 1 MiB blocks (only when size and metadata already agree). */
function sameContent(a: string, b: string, size: number): boolean {
  if (size === 0) return true;
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const ba = Buffer.allocUnsafe(Math.min(size, 1 << 20));
    const bb = Buffer.allocUnsafe(ba.length);
    for (let pos = 0; pos < size; ) {
      const na = fs.readSync(fa, ba, 0, ba.length, pos);
      const nb = fs.readSync(fb, bb, 0, bb.length, pos);
      if (na !== nb || na === 0) return na === nb;
      if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
      pos += na;
    }
    return true;
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/**
 * Whether a non-directory changed. Metadata first (type, mode, owner, size, mtime to the
 * nanosecond, more hard links, link target, device, xattrs); with identical metadata, the content is still
 * compared when the mtimes have no sub-second part (a copy may have truncated them).
 */
function changed(
  la: string,
  ua: string,
  l: fs.BigIntStats,
  u: fs.BigIntStats,
  lx?: Xattrs,
  ux?: Xattrs,
): boolean {
  if ((l.mode & BigInt(KIND_MASK)) !== (u.mode & BigInt(KIND_MASK))) return true;
  if (l.mode !== u.mode || l.uid !== u.uid || l.gid !== u.gid) return true;
  if (!sameXattrs(lx, ux)) return true;
  if (u.isSymbolicLink())
    return (
      fs.readlinkSync(la) !== fs.readlinkSync(ua) || l.mtimeNs / 1_000_000_000n !== u.mtimeNs / 1_000_000_000n
    );
  if (u.isCharacterDevice() || u.isBlockDevice()) return l.rdev !== u.rdev;
  if (!u.isFile()) return l.mtimeNs / 1_000_000_000n !== u.mtimeNs / 1_000_000_000n;
  if (l.size !== u.size || l.mtimeNs !== u.mtimeNs) return true;
  // A new hard link to an unchanged file (`ln /etc/passwd /x`): overlay copies the file up and
  // the layer carries both names as one link group; a copied tree must say the same.
  if (u.nlink > l.nlink) return true;
  if (u.mtimeNs % 1_000_000_000n === 0n) return !sameContent(la, ua, Number(u.size));
  return false;
}

/**
 * The entries that, applied to `lowerDir`, reproduce `upperDir`. Parent directories of every
 * changed path are included (with upper's metadata) so ownership and modes survive extraction.
 */
export async function diffDirectories(
  lowerDir: string,
  upperDir: string,
  options: FinalizeOptions = {},
): Promise<LayerEntry[]> {
  const [lowerX, upperX] = await Promise.all([readXattrTree(lowerDir), readXattrTree(upperDir)]);
  const entries: LayerEntry[] = [];
  const emitted = new Set<string>();
  const emit = (rel: string, abs: string, st: fs.Stats): void => {
    if (emitted.has(rel)) return;
    const e = entryFromStat(rel, abs, st, upperX.get(rel));
    if (!e) return;
    emitted.add(rel);
    entries.push(e);
  };
  // Parents of a change, upper's metadata, emitted once each.
  const emitParents = (rel: string): void => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!emitted.has(p)) {
        const abs = path.join(upperDir, p);
        emit(p, abs, fs.lstatSync(abs));
      }
    }
  };
  const addSubtree = (rel: string): void => {
    walkTree(
      upperDir,
      (r, a, st) => {
        emit(r, a, st);
        return true;
      },
      rel,
    );
  };

  const compareDir = (rel: string): void => {
    const lAbsDir = rel ? path.join(lowerDir, rel) : lowerDir;
    const uAbsDir = rel ? path.join(upperDir, rel) : upperDir;
    const lower = new Set(sortedNames(lAbsDir));
    const upperNames = sortedNames(uAbsDir);
    const upper = new Set(upperNames);
    for (const name of [...lower].filter((n) => !upper.has(n))) {
      emitParents(rel ? `${rel}/${name}` : name);
      entries.push(whiteoutEntry(rel, name));
    }
    for (const name of upperNames) {
      const r = rel ? `${rel}/${name}` : name;
      const ua = path.join(upperDir, r);
      const la = path.join(lowerDir, r);
      const ust = fs.lstatSync(ua, { bigint: true });
      const plain = fs.lstatSync(ua);
      if (!lower.has(name)) {
        emitParents(r);
        emit(r, ua, plain);
        if (ust.isDirectory()) addSubtree(r);
        continue;
      }
      const lst = fs.lstatSync(la, { bigint: true });
      if (ust.isDirectory() && lst.isDirectory()) {
        const metaChanged =
          lst.mode !== ust.mode ||
          lst.uid !== ust.uid ||
          lst.gid !== ust.gid ||
          !sameXattrs(lowerX.get(r), upperX.get(r)) ||
          lst.mtimeNs / 1_000_000_000n !== ust.mtimeNs / 1_000_000_000n;
        if (metaChanged) {
          emitParents(r);
          emit(r, ua, plain);
        }
        compareDir(r);
      } else if (ust.isDirectory()) {
        // A directory replaced a file or symlink: nothing of lower may show through it.
        emitParents(r);
        emit(r, ua, plain);
        entries.push(opaqueEntry(r, { mode: plain.mode, uid: plain.uid, gid: plain.gid }));
        addSubtree(r);
      } else if (changed(la, ua, lst, ust, lowerX.get(r), upperX.get(r))) {
        emitParents(r);
        emit(r, ua, plain);
      }
    }
  };
  compareDir('');
  return finalizeEntries(entries, options);
}
