/**
 * applyLayer's sync mode (a target holding an earlier extraction of a similar archive, such as a
 * build context uploaded again): compare a small file's bytes with what the target holds instead
 * of writing it anew, and make the target end as a fresh extraction would — symlinks and special
 * files the earlier extraction left removed first, a stale file in the way of a directory
 * removed, and what the archive did not write removed at the end.
 */
import path from 'node:path';
import * as fs from '../sys/fs.ts';
import type { ConfinedRoot } from './confined.ts';
import type { TarEntry } from './tar/reader.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** Files up to this size are compared with what the target holds (their bytes are buffered). */
export const SYNC_COMPARE_MAX = 1 << 20;

/** A regular file entry's body (at most SYNC_COMPARE_MAX bytes: the caller checked its size). */
export async function readBody(e: TarEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of e.body()) parts.push(Buffer.from(chunk));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** The regular file at `hostPath` (not followed if a symlink) holds exactly `body`. */
export function sameBytes(hostPath: string, body: Buffer): boolean {
  let fd: number;
  try {
    fd = fs.openSync(hostPath, O_RDONLY | O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const have = Buffer.allocUnsafe(body.length + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, have, n, have.length - n, null);
      if (r === 0) break;
      n += r;
      if (n === have.length) break;
    }
    return n === body.length && have.subarray(0, n).equals(body);
  } finally {
    fs.closeSync(fd);
  }
}

export function writeNew(hostPath: string, body: Buffer): void {
  const fd = fs.openSync(hostPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < body.length; ) off += fs.writeSync(fd, body, off, body.length - off);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Remove everything under the directory `comps` that this archive did not write (sync): real
 * directories only are descended (a symlink is an entry like any other, never followed).
 */
export function pruneUnwritten(
  root: ConfinedRoot,
  comps: string[],
  written: Set<string>,
  explicit: Set<string>,
): void {
  const dir = root.host(comps);
  for (const name of fs.readdirSync(dir)) {
    const logical = [...comps, name].join('/');
    const host = path.join(dir, name);
    if (!written.has(logical)) root.remove(host);
    else if (root.lstat(host)?.isDirectory()) {
      if (!explicit.has(logical)) fs.chmodSync(host, 0o755);
      pruneUnwritten(root, [...comps, name], written, explicit);
    }
  }
}

/**
 * Before a sync: remove every symlink, FIFO, socket and device an earlier extraction left, so
 * that entries resolve as they would in a fresh directory (never through a link this archive
 * did not make) and nothing special is kept.
 */
export function removeSpecial(root: ConfinedRoot, comps: string[]): void {
  const dir = root.host(comps);
  for (const name of fs.readdirSync(dir)) {
    const host = path.join(dir, name);
    const st = root.lstat(host);
    if (st?.isDirectory()) removeSpecial(root, [...comps, name]);
    else if (st && !st.isFile()) root.remove(host, st);
  }
}

/**
 * A file an earlier extraction left where this archive puts a directory goes, as a fresh target
 * would not have it. Only real directories are descended (no symlink is followed); the first
 * symlink or missing component ends the check, and a file this archive wrote stays (resolveDir
 * then fails as it would on a fresh target).
 */
export function clearStaleParents(root: ConfinedRoot, parent: string[], written: Set<string>): void {
  let host = root.root;
  for (let i = 0; i < parent.length; i++) {
    host = path.join(host, parent[i]);
    const st = root.lstat(host);
    if (st?.isDirectory()) continue;
    if (st && !st.isSymbolicLink() && !written.has(parent.slice(0, i + 1).join('/'))) root.remove(host, st);
    return;
  }
}
