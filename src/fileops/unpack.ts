/**
 * ADD's local archive extraction: a regular file that is a tar (plain, gzip, bzip2, xz or
 * zstd, detected by magic bytes, then by a valid tar header) is extracted into the
 * destination directory with src/archive's confined applier instead of being copied.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { applyLayer } from '../archive/apply.ts';
import { decompressStream } from '../archive/compress.ts';
import { openInRoot } from '../confine/fd.ts';
import { type ArchiveKind, sniffCompression } from '../context/tarcontext.ts';
import { KilnError } from '../errors/errors.ts';
import { goClean } from '../frontend/dockerignore/index.ts';
import { mkdirAllInRoot } from './dest.ts';
import type { Owner } from './user.ts';

/** A 512-byte block is a tar header when its checksum field matches (ustar or v7). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const field = Buffer.from(block.subarray(148, 156))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === Number.parseInt(field, 8);
}

/** The decompressed byte stream of `file` compressed as `kind`. */
export function decompressFile(file: string, kind: ArchiveKind): Readable {
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  switch (kind) {
    case 'tar':
      return input;
    case 'gzip':
    case 'zstd':
      // A damaged archive fails as COMPRESSED_DATA_CORRUPT, and a read error reaches the reader.
      return pipeline(input, decompressStream(kind), () => {});
    default: {
      // Node has no bzip2/xz; the standard tools decompress, reading what we opened on stdin
      // (a /proc/self/fd path would name the child's own descriptors).
      const child = spawn(kind === 'xz' ? 'xz' : 'bzip2', ['-dc'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      input.on('error', (e) => child.stdout.destroy(e));
      child.stdin.on('error', () => undefined);
      input.pipe(child.stdin);
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', (e) => child.stdout.destroy(e));
      child.on('close', (code) => {
        if (code !== 0)
          child.stdout.destroy(new KilnError('ADD_DECOMPRESS_FAILED', `${kind} -d failed: ${stderr.trim()}`));
      });
      return child.stdout;
    }
  }
}

async function decompressedHead(file: string, kind: ArchiveKind, n: number): Promise<Buffer> {
  const s = decompressFile(file, kind);
  const parts: Buffer[] = [];
  let len = 0;
  try {
    for await (const c of s) {
      parts.push(c as Buffer);
      len += (c as Buffer).length;
      if (len >= n) break;
    }
  } catch {
    // Not decompressible: not an archive.
  } finally {
    s.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Whether regular file `file` is a (possibly compressed) tar archive, and its compression. */
export async function detectArchive(file: string): Promise<ArchiveKind | undefined> {
  const st = statSync(file);
  if (!st.isFile() || st.size === 0) return undefined;
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const kind = sniffCompression(head.subarray(0, n));
  const block = kind === 'tar' ? head.subarray(0, n) : await decompressedHead(file, kind, 512);
  return isTarHeader(block) ? kind : undefined;
}

/**
 * BuildKit's unpack(): when srcRoot/srcRel is an archive, extract it into `dest` (made a
 * directory, 0755, owned by `owner`) and return true; otherwise return false.
 */
export async function tryUnpack(
  srcRoot: string,
  srcRel: string,
  destRoot: string,
  dest: string,
  owner?: Owner,
  mtime?: Date,
): Promise<boolean> {
  // Opened inside the source root by descriptor: a name swapped for a symlink to a host file
  // cannot make kiln unpack (or read) the host file.
  let held: ReturnType<typeof openInRoot>;
  try {
    held = openInRoot(srcRoot, srcRel, { followFinal: false });
  } catch (err) {
    // A symlink (or nothing): not an archive; the copy deals with it.
    if ((err as KilnError).code === 'PATH_NOT_FOUND') return false;
    throw err;
  }
  try {
    if (!held.stat.isFile()) return false;
    const kind = await detectArchive(held.path);
    if (!kind) return false;
    const d = mkdirAllInRoot(destRoot, goClean(`/${dest}`), { owner, mtime });
    // A plain archive, not a layer: a .wh.x entry is a file named .wh.x, not a deletion.
    await applyLayer(decompressFile(held.path, kind), d.abs, { compression: 'none', whiteouts: 'none' });
    return true;
  } finally {
    held.close();
  }
}

export { type ArchiveKind, sniffCompression };
