/**
 * A small, independent tar reader for the fidelity judge: lists a layer's entries with type,
 * mode, owner, size, content sha256 and link target. It reads the file in chunks (never whole),
 * understands ustar, PAX (path, linkpath, size, uid, gid) and GNU long names, and is kept apart
 * from kiln's own archive code on purpose: a judge must not share the code it judges.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky, as a 4-digit octal string. */
  mode: string;
  uid: number;
  gid: number;
  size: number;
  /** sha256 hex of the content (regular files only). */
  sha256?: string;
  /** Symlink target, or the path a hardlink points at. */
  link?: string;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function str(block: Buffer, off: number, len: number): string {
  const end = block.indexOf(0, off);
  return block.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function num(block: Buffer, off: number, len: number): number {
  if (block[off] & 0x80) {
    // GNU base-256: big-endian with the top bit of the first byte as the marker.
    let v = block[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + block[off + i];
    return v;
  }
  const s = str(block, off, len).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number.parseInt(data.toString('utf8', i, sp), 10);
    if (!(len > 0)) break;
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Normalise a tar path to an absolute path without trailing slash (`./a/b/` → `/a/b`). */
export function normalisePath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return `/${parts.join('/')}`;
}

/** Read every entry of the (uncompressed) tar file at `file`. */
export function readTarEntries(file: string): TarEntry[] {
  const fd = openSync(file, 'r');
  const entries: TarEntry[] = [];
  let pos = 0;
  const header = Buffer.alloc(512);
  const chunk = Buffer.alloc(1 << 20);
  const readExact = (buf: Buffer, len: number): void => {
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, pos + got);
      if (n === 0) throw new Error(`${file}: truncated tar at offset ${pos + got}`);
      got += n;
    }
  };
  try {
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const n = readSync(fd, header, 0, 512, pos);
      if (n < 512 || header.every((b) => b === 0)) break;
      pos += 512;
      const typeflag = String.fromCharCode(header[156]);
      const size = pax.size !== undefined ? Number(pax.size) : num(header, 124, 12);
      const padded = Math.ceil(size / 512) * 512;
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        const data = Buffer.alloc(size);
        readExact(data, size);
        pos += padded;
        if (typeflag === 'x') pax = { ...pax, ...parsePax(data) };
        else if (typeflag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
        else if (typeflag === 'K') longLink = data.toString('utf8').replace(/\0+$/, '');
        continue;
      }
      const prefix = str(header, 345, 155);
      const name =
        pax.path ?? longName ?? (prefix ? `${prefix}/${str(header, 0, 100)}` : str(header, 0, 100));
      const type = TYPES[typeflag] ?? 'other';
      const entry: TarEntry = {
        path: normalisePath(name),
        type,
        mode: (num(header, 100, 8) & 0o7777).toString(8).padStart(4, '0'),
        uid: pax.uid !== undefined ? Number(pax.uid) : num(header, 108, 8),
        gid: pax.gid !== undefined ? Number(pax.gid) : num(header, 116, 8),
        size: type === 'file' ? size : 0,
      };
      if (type === 'symlink') entry.link = pax.linkpath ?? longLink ?? str(header, 157, 100);
      if (type === 'hardlink') entry.link = normalisePath(pax.linkpath ?? longLink ?? str(header, 157, 100));
      if (type === 'file') {
        const hash = createHash('sha256');
        let left = size;
        let at = pos;
        while (left > 0) {
          const want = Math.min(left, chunk.length);
          const got = readSync(fd, chunk, 0, want, at);
          if (got === 0) throw new Error(`${file}: truncated content of ${entry.path}`);
          hash.update(chunk.subarray(0, got));
          left -= got;
          at += got;
        }
        entry.sha256 = hash.digest('hex');
      }
      pos += padded;
      pax = {};
      longName = undefined;
      longLink = undefined;
      entries.push(entry);
    }
  } finally {
    closeSync(fd);
  }
  return entries;
}
