/**
 * File names as the kernel has them: bytes. A name that is not UTF-8 is held in a JS string with
 * each byte that is not part of a valid UTF-8 sequence as the lone surrogate U+DC00+byte (Python's
 * "surrogateescape"), and turned back into those exact bytes wherever it meets the kernel or a tar.
 */
import { isUtf8 } from 'node:buffer';

// A lone low surrogate in U+DC80–U+DCFF is an escaped byte: decoding UTF-8 never yields one.
const ESCAPE_RANGE = /[\udc80-\udcff]/;

/** The string for a name's bytes: the plain UTF-8 decoding whenever the bytes are valid UTF-8. */
export function decodeName(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let run = 0; // start of the pending run of valid UTF-8
  for (let i = 0; i < b.length; ) {
    const n = sequenceLength(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += b.toString('utf8', run, i) + String.fromCharCode(0xdc00 + b[i]);
    i++;
    run = i;
  }
  return out + b.toString('utf8', run);
}

/** Length of the well-formed UTF-8 sequence at `i` (Unicode table 3-7), 0 when there is none. */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean =>
    i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Whether `s` holds an escaped byte (a lone U+DC80–U+DCFF; the low half of a pair is not one). */
export function hasEscape(s: string): boolean {
  if (!ESCAPE_RANGE.test(s)) return false;
  for (let i = 0; i < s.length; i++) if (isEscapeAt(s, i)) return true;
  return false;
}

function isEscapeAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xdc80 || c > 0xdcff) return false;
  const prev = i > 0 ? s.charCodeAt(i - 1) : 0;
  return prev < 0xd800 || prev > 0xdbff;
}

/** The bytes a name or path string stands for. */
export function encodeName(s: string): Buffer {
  if (!hasEscape(s)) return Buffer.from(s);
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    if (!isEscapeAt(s, i)) continue;
    if (i > run) parts.push(Buffer.from(s.slice(run, i)));
    parts.push(Buffer.of(s.charCodeAt(i) - 0xdc00));
    run = i + 1;
  }
  if (run < s.length) parts.push(Buffer.from(s.slice(run)));
  return Buffer.concat(parts);
}

/**
 * What to hand node:fs for a path (or a hash for text holding names): the string itself unless
 * it holds escaped bytes, then its bytes.
 */
export function encodePath(s: string): string | Buffer {
  return ESCAPE_RANGE.test(s) && hasEscape(s) ? encodeName(s) : s;
}

/** Byte length of a name (what the kernel and tar headers count). */
export function nameByteLength(s: string): number {
  return hasEscape(s) ? encodeName(s).length : Buffer.byteLength(s);
}

// Surrogates (pairs or escapes) are the only place where UTF-16 order and byte order part.
const SURROGATE = /[\ud800-\udfff]/;

/** Whether `s` holds a surrogate (half of an astral character, or an escaped byte). */
export function hasSurrogate(s: string): boolean {
  return SURROGATE.test(s);
}

/** Byte-wise order of two names (as Go and the kernel sort them), escapes as their bytes. */
export function compareNames(a: string, b: string): number {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(encodeName(a), encodeName(b));
}

/** Sort names in place in byte order; without surrogates that is the default sort. */
export function sortNames(names: string[]): string[] {
  return names.some((n) => SURROGATE.test(n)) ? names.sort(compareNames) : names.sort();
}

/** A %XX-escaped name (a URL path, libarchive's xattr names) with the bytes it stands for. */
export function decodePercent(s: string): string {
  if (!s.includes('%')) return s;
  const latin1 = encodeName(s)
    .toString('latin1')
    .replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return decodeName(Buffer.from(latin1, 'latin1'));
}

/** A name for messages: escaped bytes shown as \xNN, so a terminal shows what is really there. */
export function showName(s: string): string {
  if (!hasEscape(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    out += isEscapeAt(s, i) ? `\\x${(s.charCodeAt(i) - 0xdc00).toString(16)}` : s[i];
  }
  return out;
}
