/**
 * Tar header blocks: the entry model shared by reader and writer, ustar encoding/decoding
 * (octal and GNU base-256 numbers), and PAX extended records (binary-safe values, so
 * `SCHILY.xattr.security.capability` survives). Names, link targets and xattr names are bytes:
 * one that is not UTF-8 is written and read back exactly (sys/fsname.ts), as Go's archive/tar does.
 */
import { KilnError } from '../../errors/errors.ts';
import { decodeName, encodeName, hasEscape } from '../../sys/fsname.ts';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One archive member as kiln sees it; the reader fills every field, the writer defaults most. */
export interface TarHeader {
  /** Member path as stored (no normalization beyond joining the ustar prefix). */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content length; 0 for everything except regular files. */
  size: number;
  /** Seconds since the epoch; fractional when the archive carries a PAX sub-second mtime. */
  mtime: number;
  /** Symlink target or hardlink target path. */
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes (PAX `SCHILY.xattr.<name>`), values as raw bytes. */
  xattrs: Record<string, Buffer>;
}

/** What a caller gives the writer: path and type are required, the rest defaults to zero/empty. */
export type TarHeaderInput = Pick<TarHeader, 'path' | 'type'> & Partial<TarHeader>;

/**
 * The attributes of a header that has none: one shared, frozen object (a layer of 200,000 files
 * held an empty object each, ~11 MiB). Give a header attributes by replacing its object.
 */
export const NO_XATTRS: Readonly<Record<string, Buffer>> = Object.freeze({});

export function completeHeader(h: TarHeaderInput): TarHeader {
  return {
    path: h.path,
    type: h.type,
    mode: h.mode ?? (h.type === 'directory' ? 0o755 : 0o644),
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    size: h.type === 'file' ? (h.size ?? 0) : 0,
    mtime: h.mtime ?? 0,
    linkname: h.linkname ?? '',
    uname: h.uname ?? '',
    gname: h.gname ?? '',
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    xattrs: h.xattrs ?? (NO_XATTRS as Record<string, Buffer>),
  };
}

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

/** Type flags the reader understands as plain members ('\0' and '7' are old spellings of '0'). */
export function typeFromFlag(flag: string): TarEntryType | undefined {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}

// ---- numbers ----

/** Largest value an octal field of `width` bytes holds (width-1 digits plus a NUL). */
function octalMax(width: number): number {
  return width === 8 ? OCTAL_MAX_8 : width === 12 ? OCTAL_MAX_12 : 8 ** (width - 1) - 1;
}
const OCTAL_MAX_8 = 8 ** 7 - 1;
const OCTAL_MAX_12 = 8 ** 11 - 1;

/**
 * Zero-padded octal digits and a NUL, byte by byte; the sum of the bytes written (for the
 * checksum), or -1 when `value` does not fit (nothing written). A layer writes seven of these a
 * file: `toString(8)`, `padStart` and a string write took ~1 µs of the ~3 µs a header cost.
 */
function writeOctal(buf: Buffer, off: number, width: number, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > octalMax(width)) return -1;
  let v = value;
  let sum = 0;
  // Values reach 8^11 (past 2^32): division, not shifts.
  for (let i = off + width - 2; i >= off; i--) {
    const digit = v % 8;
    buf[i] = 0x30 + digit;
    sum += 0x30 + digit;
    v = (v - digit) / 8;
  }
  buf[off + width - 1] = 0;
  return sum;
}

/** `value` in octal, or zero when it does not fit; the sum of the bytes written. */
function writeOctalOrZero(buf: Buffer, off: number, width: number, value: number): number {
  const sum = writeOctal(buf, off, width, value);
  return sum >= 0 ? sum : writeOctal(buf, off, width, 0);
}

/** GNU base-256: high bit of the first byte set, big-endian two's complement after it. */
function writeBase256(buf: Buffer, off: number, width: number, value: number): number {
  let v = BigInt(value);
  let sum = 0x80;
  for (let i = width - 1; i > 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    sum += buf[off + i];
    v >>= 8n;
  }
  buf[off] = 0x80;
  return sum;
}

/**
 * `s` into a zeroed field (at most `width` bytes of its UTF-8, whole characters, as
 * Buffer.write): the sum of the bytes written. ASCII, nearly every name, is copied by code unit.
 */
function writeField(buf: Buffer, off: number, width: number, s: string | Buffer): number {
  if (typeof s !== 'string') {
    const n = s.copy(buf, off, 0, Math.min(width, s.length));
    return sumBytes(buf, off, n);
  }
  const n = Math.min(width, s.length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      buf.fill(0, off, off + i);
      return sumBytes(buf, off, buf.write(s, off, width, 'utf8'));
    }
    buf[off + i] = c;
    sum += c;
  }
  return sum;
}

function sumBytes(buf: Buffer, off: number, n: number): number {
  let sum = 0;
  for (let i = off; i < off + n; i++) sum += buf[i];
  return sum;
}

function readNumber(buf: Buffer, off: number, width: number): number {
  const first = buf[off];
  if (first & 0x80) {
    // base-256 (GNU); 0xff prefix means negative, which no field we use may be.
    if (first === 0xff) return -1;
    let v = BigInt(first & 0x7f);
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(buf[off + i]);
    return Number(v);
  }
  let end = off;
  const stop = off + width;
  while (end < stop && (buf[end] === 0x20 || buf[end] === 0)) end++;
  let start = end;
  while (end < stop && buf[end] >= 0x30 && buf[end] <= 0x37) end++;
  if (start === end) return 0;
  let v = 0;
  for (; start < end; start++) v = v * 8 + (buf[start] - 0x30);
  return v;
}

function readString(buf: Buffer, off: number, width: number): string {
  let end = off;
  let high = 0;
  const stop = off + width;
  for (; end < stop && buf[end] !== 0; end++) high |= buf[end];
  // ASCII (nearly every name) needs no UTF-8 check.
  return high < 0x80 ? buf.toString('latin1', off, end) : decodeName(buf.subarray(off, end));
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false;
  return true;
}

// ---- PAX records ----

/** Encode one `"<len> <key>=<value>\n"` record; len counts its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const k = encodeName(key); // an xattr name may be any bytes
  const body = k.length + value.length + 3; // ' ', '=', '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `), k, Buffer.from('='), value, Buffer.from('\n')]);
}

export function encodePax(records: [string, Buffer][]): Buffer {
  return Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
}

/** Parse PAX records; values stay binary (xattrs may hold any byte). */
export function decodePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const sp = data.indexOf(0x20, pos);
    const len = sp < 0 ? Number.NaN : Number(data.toString('ascii', pos, sp));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new KilnError('TAR_INVALID', `malformed PAX record at offset ${pos}`, {
        hint: 'the archive is corrupt or not a tar file',
      });
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq > pos + len - 1) {
      throw new KilnError('TAR_INVALID', `PAX record without "=" at offset ${pos}`);
    }
    out.set(decodeName(data.subarray(sp + 1, eq)), data.subarray(eq + 1, pos + len - 1));
    pos += len;
  }
  return out;
}

// ---- ustar blocks ----

/** Split a path into ustar prefix (≤155) and name (≤100) at a '/', or undefined when impossible. */
function splitUstarPath(p: string): [string, string] | undefined {
  // Called for ASCII paths only: as many bytes as code units.
  if (p.length <= 100) return ['', p];
  if (p.length > 256) return undefined;
  for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
    if (i <= 155 && p.length - i - 1 <= 100 && i + 1 < p.length) return [p.slice(0, i), p.slice(i + 1)];
  }
  return undefined;
}

function formatMtime(mtime: number): string {
  // Up to nanosecond digits, trailing zeros dropped; deterministic for a given number.
  const s = mtime.toFixed(9).replace(/0+$/, '');
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

/** The checksum field read as spaces, the flag's place aside, and the magic and version. */
const MAGIC = 'ustar\u000000';
const CONSTANT_SUM = 8 * 0x20 + sumOf(MAGIC);

function sumOf(s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s.charCodeAt(i);
  return sum;
}

/**
 * One ustar block at `block[at..at+512)`, which must be zeroed. The checksum is the sum of the
 * bytes each field wrote, not a pass over the block (which was a third of a header's cost).
 */
function fillBlock(
  block: Buffer,
  at: number,
  name: string | Buffer,
  prefix: string,
  flag: string,
  h: TarHeader,
  size: number,
  linkname: string,
): void {
  let sum = CONSTANT_SUM;
  sum += writeField(block, at, 100, name);
  sum += writeOctal(block, at + 100, 8, h.mode & 0o7777);
  sum += writeOctalOrZero(block, at + 108, 8, h.uid);
  sum += writeOctalOrZero(block, at + 116, 8, h.gid);
  sum += writeOctalOrZero(block, at + 124, 12, size);
  sum += writeOctalOrZero(block, at + 136, 12, Math.max(0, Math.floor(h.mtime)));
  block.fill(0x20, at + 148, at + 156);
  block[at + 156] = flag.charCodeAt(0);
  sum += block[at + 156];
  sum += writeField(block, at + 157, 100, linkname);
  block.write(MAGIC, at + 257, 8, 'latin1');
  if (isAscii(h.uname) && h.uname.length <= 32) sum += writeField(block, at + 265, 32, h.uname);
  if (isAscii(h.gname) && h.gname.length <= 32) sum += writeField(block, at + 297, 32, h.gname);
  if (h.type === 'char' || h.type === 'block') {
    const major = writeOctal(block, at + 329, 8, h.devmajor);
    sum += major >= 0 ? major : writeBase256(block, at + 329, 8, h.devmajor);
    const minor = writeOctal(block, at + 337, 8, h.devminor);
    sum += minor >= 0 ? minor : writeBase256(block, at + 337, 8, h.devminor);
  } else {
    sum += writeOctal(block, at + 329, 8, 0);
    sum += writeOctal(block, at + 337, 8, 0);
  }
  sum += writeField(block, at + 345, 155, prefix);
  // Six octal digits (a block sums to at most 512 * 255 = 0o377000), a NUL and a space.
  writeOctal(block, at + 148, 7, sum);
  block[at + 155] = 0x20;
}

/**
 * What `h` needs besides its ustar block: the PAX records for the fields that do not fit ustar
 * (long or non-ASCII path/linkname, big ids/size, sub-second mtime, xattrs), none for most.
 */
function paxRecords(
  h: TarHeader,
  split: [string, string] | undefined,
  linkFits: boolean,
): [string, Buffer][] {
  const pax: [string, Buffer][] = [];
  if (!split) pax.push(['path', encodeName(h.path)]);
  if (!linkFits) pax.push(['linkpath', encodeName(h.linkname)]);
  if (h.uid > octalMax(8)) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > octalMax(8)) pax.push(['gid', Buffer.from(String(h.gid))]);
  if (h.size > octalMax(12)) pax.push(['size', Buffer.from(String(h.size))]);
  if (!Number.isInteger(h.mtime) || h.mtime < 0 || h.mtime > octalMax(12)) {
    pax.push(['mtime', Buffer.from(formatMtime(h.mtime))]);
  }
  if (!isAscii(h.uname) || h.uname.length > 32) pax.push(['uname', Buffer.from(h.uname)]);
  if (!isAscii(h.gname) || h.gname.length > 32) pax.push(['gname', Buffer.from(h.gname)]);
  for (const name of Object.keys(h.xattrs).sort()) pax.push([`SCHILY.xattr.${name}`, h.xattrs[name]]);
  return pax;
}

function ustarSplit(h: TarHeader): [string, string] | undefined {
  return isAscii(h.path) ? splitUstarPath(h.path) : undefined;
}

function linkFitsUstar(h: TarHeader): boolean {
  // ASCII: as many bytes as code units.
  return isAscii(h.linkname) && h.linkname.length <= 100;
}

/**
 * Encode the header block(s) for one member: a PAX 'x' header when any field does not fit
 * ustar, then the ustar block. The output depends only on the header, so archives are
 * reproducible.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const split = ustarSplit(h);
  const linkFits = linkFitsUstar(h);
  const pax = paxRecords(h, split, linkFits);

  // The ustar name of a PAX member is only for readers without PAX: its first 100 bytes.
  const [prefix, name] = split ?? ['', hasEscape(h.path) ? encodeName(h.path) : truncateUtf8(h.path, 100)];
  const main = Buffer.alloc(BLOCK);
  fillBlock(main, 0, name, prefix, TYPE_FLAGS[h.type], h, h.size, linkFits ? h.linkname : '');
  if (pax.length === 0) return main;

  const body = encodePax(pax);
  const paxHeader = Buffer.alloc(BLOCK);
  const base = h.path.replace(/\/+$/, '').split('/').pop() ?? '';
  const paxName = truncateUtf8(`PaxHeaders.0/${isAscii(base) ? base : 'entry'}`, 100);
  fillBlock(
    paxHeader,
    0,
    paxName,
    '',
    'x',
    { ...h, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, uname: '', gname: '' },
    body.length,
    '',
  );
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), main]);
}

/**
 * Write `h`'s header straight into `dest` at `at` when it is one ustar block (no PAX records:
 * most members of a layer), and say whether it was: the writer's stage takes it without a
 * 512-byte Buffer of its own for every member.
 */
export function writeUstarHeader(h: TarHeader, dest: Buffer, at: number): boolean {
  const split = ustarSplit(h);
  const linkFits = linkFitsUstar(h);
  if (!split || !linkFits || paxRecords(h, split, linkFits).length > 0) return false;
  dest.fill(0, at, at + BLOCK);
  fillBlock(dest, at, split[1], split[0], TYPE_FLAGS[h.type], h, h.size, h.linkname);
  return true;
}

function truncateUtf8(s: string, bytes: number): string {
  const b = Buffer.from(s);
  if (b.length <= bytes) return s;
  return b
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}

export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** The raw fields of one ustar/GNU block, before PAX or GNU long-name overrides. */
export interface RawHeader extends Omit<TarHeader, 'path' | 'type' | 'xattrs'> {
  name: string;
  flag: string;
}

/** True for an all-zero block (end-of-archive marker). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decode and checksum-verify one header block. `offset` is only for error messages. */
export function decodeBlock(block: Buffer, offset: number): RawHeader {
  const stored = readNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new KilnError('TAR_INVALID', `tar header checksum mismatch at offset ${offset}`, {
      hint: 'the archive is corrupt, truncated, or not a tar file',
    });
  }
  const magic = block.toString('ascii', 257, 263);
  const ustar = magic === 'ustar\u0000' || magic === 'ustar ';
  let name = readString(block, 0, 100);
  // POSIX ustar prefix; GNU's old format uses those bytes for atime/ctime instead.
  if (magic === 'ustar\u0000') {
    const prefix = readString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    flag: String.fromCharCode(block[156]),
    mode: readNumber(block, 100, 8) & 0o7777,
    uid: readNumber(block, 108, 8),
    gid: readNumber(block, 116, 8),
    size: readNumber(block, 124, 12),
    mtime: readNumber(block, 136, 12),
    linkname: readString(block, 157, 100),
    uname: ustar ? readString(block, 265, 32) : '',
    gname: ustar ? readString(block, 297, 32) : '',
    devmajor: ustar ? readNumber(block, 329, 8) : 0,
    devminor: ustar ? readNumber(block, 337, 8) : 0,
  };
}
