/**
 * node:fs for paths whose names come from a context, a rootfs or a tar: the same calls, with path
 * strings turned back into their bytes (fsname.ts) on the way in and names read from the kernel
 * decoded with escapes on the way out, so a name that is not UTF-8 names the file it came from.
 */
import * as nodeFs from 'node:fs';
import * as nodeFsp from 'node:fs/promises';
import { decodeName, encodePath } from './fsname.ts';

export {
  type BigIntStats,
  closeSync,
  constants,
  type Dirent,
  fchmodSync,
  fstatSync,
  fsyncSync,
  readSync,
  type Stats,
  writeSync,
} from 'node:fs';

/** O_PATH (Linux): a descriptor that names a file without opening it for I/O. */
export const O_PATH = 0o10000000;

type Fn = (...args: never[]) => unknown;
type Loose = (...args: unknown[]) => unknown;

function enc(p: unknown): unknown {
  return typeof p === 'string' ? encodePath(p) : p;
}

// Fixed arities (no rest arguments to gather on every call): each wrapped function takes at most
// two arguments after its paths, and treats one passed as undefined as one left out.

/** `f` with its first argument (a path) encoded. */
function path1<F extends Fn>(f: F): F {
  const g = f as unknown as Loose;
  return ((p: unknown, a: unknown, b: unknown) => g(enc(p), a, b)) as unknown as F;
}

/** `f` with its first two arguments (paths) encoded. */
function path2<F extends Fn>(f: F): F {
  const g = f as unknown as Loose;
  return ((x: unknown, y: unknown, a: unknown) => g(enc(x), enc(y), a)) as unknown as F;
}

export const lstatSync = path1(nodeFs.lstatSync);
export const statSync = path1(nodeFs.statSync);
export const openSync = path1(nodeFs.openSync);
export const readFileSync = path1(nodeFs.readFileSync);
export const mkdirSync = path1(nodeFs.mkdirSync);
export const unlinkSync = path1(nodeFs.unlinkSync);
export const rmdirSync = path1(nodeFs.rmdirSync);
export const rmSync = path1(nodeFs.rmSync);
export const chmodSync = path1(nodeFs.chmodSync);
export const chownSync = path1(nodeFs.chownSync);
export const lchownSync = path1(nodeFs.lchownSync);
export const utimesSync = path1(nodeFs.utimesSync);
export const lutimesSync = path1(nodeFs.lutimesSync);
export const createReadStream = path1(nodeFs.createReadStream);
export const createWriteStream = path1(nodeFs.createWriteStream);
/** symlink(target, path): the target is a name too (bytes, stored as given). */
export const symlinkSync = path2(nodeFs.symlinkSync);
export const linkSync = path2(nodeFs.linkSync);
export const renameSync = path2(nodeFs.renameSync);
export const copyFileSync = path2(nodeFs.copyFileSync);
export const copyFile = path2(nodeFsp.copyFile);
export const lstat = path1(nodeFsp.lstat);
export const rename = path2(nodeFsp.rename);
export const unlink = path1(nodeFsp.unlink);
export const rm = path1(nodeFsp.rm);
export const chmod = path1(nodeFsp.chmod);
export const chown = path1(nodeFsp.chown);
export const utimes = path1(nodeFsp.utimes);

/**
 * The names in a directory, byte-exact. The kernel's names are read as strings first (the common
 * case costs what readdirSync costs); only when one holds U+FFFD, which is what Node makes of
 * bytes that are not UTF-8 (or a real U+FFFD), are they read again as bytes.
 */
export function readdirSync(p: nodeFs.PathLike): string[] {
  const at = enc(p) as nodeFs.PathLike;
  const names = nodeFs.readdirSync(at);
  for (const n of names) {
    if (n.includes('\ufffd')) return nodeFs.readdirSync(at, { encoding: 'buffer' }).map(decodeName);
  }
  return names;
}

/**
 * readdirSync with each entry's type as the directory gives it (d_type, no lstat), names
 * byte-exact as readdirSync's.
 */
export function readdirTypedSync(p: nodeFs.PathLike): nodeFs.Dirent[] {
  const at = enc(p) as nodeFs.PathLike;
  const entries = nodeFs.readdirSync(at, { withFileTypes: true });
  for (const d of entries) {
    if (!d.name.includes('\ufffd')) continue;
    const raw = nodeFs.readdirSync(at, { withFileTypes: true, encoding: 'buffer' });
    for (const r of raw) (r as unknown as { name: string }).name = decodeName(r.name);
    return raw as unknown as nodeFs.Dirent[];
  }
  return entries;
}

/** readdirSync's asynchronous twin. */
export async function readdir(p: nodeFs.PathLike): Promise<string[]> {
  const at = enc(p) as nodeFs.PathLike;
  const names = await nodeFsp.readdir(at);
  for (const n of names) {
    if (n.includes('\ufffd')) return (await nodeFsp.readdir(at, { encoding: 'buffer' })).map(decodeName);
  }
  return names;
}

/** A symlink's target, byte-exact (never following it). */
export function readlinkSync(p: nodeFs.PathLike): string {
  const at = enc(p) as nodeFs.PathLike;
  const target = nodeFs.readlinkSync(at);
  return target.includes('\ufffd') ? decodeName(nodeFs.readlinkSync(at, { encoding: 'buffer' })) : target;
}

/** The canonical path of `p`, byte-exact (realpath(3): Node's own realpathSync turns a Buffer into a string). */
export function realpathSync(p: nodeFs.PathLike): string {
  const at = enc(p) as nodeFs.PathLike;
  const real = nodeFs.realpathSync.native(at);
  return real.includes('\ufffd') ? decodeName(nodeFs.realpathSync.native(at, { encoding: 'buffer' })) : real;
}
