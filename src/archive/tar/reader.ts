/**
 * Streaming tar reader: an async iterator of entries over any byte stream. Understands ustar,
 * PAX (local and global headers, binary xattrs) and GNU long names/links ('L'/'K'). Each
 * entry's content must be consumed or skipped before the next one is read; moving on skips it.
 */
import { Readable } from 'node:stream';
import { KilnError } from '../../errors/errors.ts';
import { decodeName, decodePercent } from '../../sys/fsname.ts';
import {
  BLOCK,
  decodeBlock,
  decodePax,
  isZeroBlock,
  padding,
  type TarHeader,
  typeFromFlag,
} from './header.ts';

/** Pulls exact byte counts out of a chunked async source without copying when it can. */
class ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  /** Bytes handed out so far (for error offsets). */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const b = Buffer.isBuffer(r.value)
      ? r.value
      : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length);
    if (b.length > 0) {
      this.chunks.push(b);
      this.buffered += b.length;
    }
    return true;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.fill())) {}
    const take = Math.min(n, this.buffered);
    const out = this.take(take);
    return out;
  }

  /** Up to n bytes (at least 1 unless the input ended), as large a slice as is at hand. */
  async readSome(n: number): Promise<Buffer> {
    while (this.buffered === 0 && (await this.fill())) {}
    return this.take(Math.min(n, this.buffered, this.chunks.length ? this.chunks[0].length : 0));
  }

  private take(n: number): Buffer {
    this.position += n;
    this.buffered -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const b = await this.readSome(Math.min(n, 1 << 20));
      if (b.length === 0) throw truncated(this.position);
      n -= b.length;
    }
  }

  /** Release the underlying iterator (e.g. the consumer stopped early). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * Metadata (PAX, GNU long names) held for one entry, and global PAX records in all: 8 MiB is
 * far beyond any real header (paths stop at 4 KiB, xattr values at 64 KiB).
 */
const MAX_METADATA = 8 << 20;
/** Keys global PAX records may set: each is merged into every later entry. */
const MAX_GLOBAL_PAX_KEYS = 1000;

function truncated(offset: number): KilnError {
  return new KilnError('TAR_TRUNCATED', `tar archive ends unexpectedly at offset ${offset}`, {
    hint: 'the archive or layer blob is incomplete; download or rebuild it',
  });
}

/** An archive member: header fields plus its content, readable once. */
export interface TarEntry extends TarHeader {
  /** The content bytes (regular files only; empty for others). Iterate or use stream()/buffer(). */
  body(): AsyncIterable<Buffer>;
  /** The content as a Readable. */
  stream(): Readable;
  /** Read the whole content into memory (for small members only). */
  buffer(): Promise<Buffer>;
  /** Discard the content. Happens automatically when the iteration moves on. */
  skip(): Promise<void>;
}

/**
 * Read a tar stream entry by entry. Unknown types (GNU sparse, volume labels) fail with
 * TAR_UNSUPPORTED rather than being silently mis-extracted.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source);
  const globalPax = new Map<string, Buffer>();
  try {
    let localPax: Map<string, Buffer> | undefined;
    /** Metadata bytes read for the entry to come. */
    let pending = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const headerOffset = src.position;
      const block = await src.read(BLOCK);
      if (block.length === 0) return; // tolerate a missing end marker
      if (block.length < BLOCK) throw truncated(src.position);
      if (isZeroBlock(block)) {
        // End of archive (the second zero block is optional to us). Read on to the end of
        // the input so that a digest computed over the stream covers every byte.
        while ((await src.readSome(1 << 20)).length > 0) {}
        return;
      }
      const raw = decodeBlock(block, headerOffset);
      const paxSize = localPax?.get('size') ?? globalPax.get('size');
      const size = paxSize ? parseNumber(paxSize, 'size', headerOffset) : raw.size;
      if (raw.flag === 'x' || raw.flag === 'g' || raw.flag === 'L' || raw.flag === 'K') {
        // Metadata is held in memory until its entry: the bytes pending for one entry and the
        // global records are capped (a chain of headers could otherwise pile up gigabytes).
        pending += raw.size;
        if (raw.size > MAX_METADATA || pending > MAX_METADATA) {
          throw new KilnError(
            'TAR_INVALID',
            `oversized metadata record (${raw.size} bytes, ${pending} pending for one entry) at offset ${headerOffset}; at most ${MAX_METADATA}`,
            { hint: 'the archive is corrupt or hostile' },
          );
        }
        const data = await src.read(raw.size);
        if (data.length < raw.size) throw truncated(src.position);
        await src.skip(padding(raw.size));
        if (raw.flag === 'x') localPax = new Map([...(localPax ?? []), ...decodePax(data)]);
        else if (raw.flag === 'g') {
          for (const [k, v] of decodePax(data)) globalPax.set(k, Buffer.from(v));
          let global = 0;
          for (const [k, v] of globalPax) global += k.length + v.length;
          if (globalPax.size > MAX_GLOBAL_PAX_KEYS || global > MAX_METADATA) {
            throw new KilnError(
              'TAR_INVALID',
              `global PAX records grow past ${MAX_GLOBAL_PAX_KEYS} keys or ${MAX_METADATA} bytes at offset ${headerOffset}`,
              { hint: 'the archive is corrupt or hostile' },
            );
          }
        } else {
          const text = decodeName(data).replace(/\0+$/, '');
          if (raw.flag === 'L') longName = text;
          else longLink = text;
        }
        continue;
      }
      const type = typeFromFlag(raw.flag);
      if (!type) {
        throw new KilnError('TAR_UNSUPPORTED', `unsupported tar entry type '${raw.flag}' for "${raw.name}"`, {
          hint: 'kiln reads ustar, PAX and GNU long names; sparse files and volume headers are not supported',
        });
      }
      const pax = new Map([...globalPax, ...(localPax ?? [])]);
      const str = (key: string, fallback: string): string => {
        const v = pax.get(key);
        return v ? decodeName(v) : fallback;
      };
      const num = (key: string, fallback: number): number => {
        const v = pax.get(key);
        return v ? parseNumber(v, key, headerOffset) : fallback;
      };
      const xattrs: Record<string, Buffer> = {};
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = Buffer.from(v);
        else if (k.startsWith('LIBARCHIVE.xattr.')) {
          const name = decodePercent(k.slice(17));
          if (!(name in xattrs)) xattrs[name] = Buffer.from(v.toString('ascii'), 'base64');
        }
      }
      let path = str('path', longName ?? raw.name);
      if (type === 'directory' && path.length > 1) path = path.replace(/\/+$/, '');
      const mtimeText = pax.get('mtime')?.toString('ascii');
      const mtime = mtimeText !== undefined ? Number(mtimeText) : raw.mtime;
      const contentSize = type === 'file' ? size : 0;
      localPax = undefined;
      pending = 0;
      const linkname = str('linkpath', longLink ?? raw.linkname);
      longName = undefined;
      longLink = undefined;

      // A hardlink may carry a size in some writers; its data (if any) is skipped.
      let remaining = type === 'file' || type === 'hardlink' ? size : 0;
      const pad = padding(remaining);
      let consumed = false;
      let finished = false;
      const drain = async function* (): AsyncGenerator<Buffer> {
        if (consumed) throw new KilnError('TAR_ENTRY_CONSUMED', `content of "${path}" was already read`);
        consumed = true;
        while (remaining > 0) {
          const b = await src.readSome(Math.min(remaining, 1 << 20));
          if (b.length === 0) throw truncated(src.position);
          remaining -= b.length;
          if (type === 'file') yield b;
        }
        await src.skip(pad);
        finished = true;
      };
      const skip = async (): Promise<void> => {
        if (consumed) return;
        consumed = true;
        await src.skip(remaining + pad);
        remaining = 0;
        finished = true;
      };
      const entry: TarEntry = {
        path,
        type,
        mode: raw.mode,
        uid: num('uid', raw.uid),
        gid: num('gid', raw.gid),
        size: contentSize,
        mtime: Number.isFinite(mtime) ? mtime : raw.mtime,
        linkname,
        uname: str('uname', raw.uname),
        gname: str('gname', raw.gname),
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        xattrs,
        body: drain,
        stream: () => Readable.from(drain(), { objectMode: false }),
        buffer: async () => {
          const parts: Buffer[] = [];
          for await (const b of drain()) parts.push(Buffer.from(b));
          return Buffer.concat(parts);
        },
        skip,
      };
      yield entry;
      if (!consumed) await skip();
      else if (!finished) {
        // The consumer started reading and stopped: discard the rest.
        await src.skip(remaining + pad);
        remaining = 0;
        finished = true;
      }
    }
  } finally {
    await src.close();
  }
}

function parseNumber(v: Buffer, key: string, offset: number): number {
  const text = v.toString('ascii');
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new KilnError('TAR_INVALID', `invalid PAX ${key} "${text}" at offset ${offset}`);
  }
  return n;
}
