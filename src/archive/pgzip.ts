/**
 * Block-parallel gzip (pigz's scheme): the input is cut into fixed 1 MiB blocks, each deflated
 * on the libuv thread pool with the previous 32 KiB as its dictionary and ended with a sync
 * flush, and the pieces are concatenated under one gzip header and trailer. The result is a
 * single valid gzip stream; it depends only on the input bytes (fixed block boundaries), so
 * layer digests are stable, and it uses every core, where plain zlib uses one.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { crc32, deflateRaw, constants as zlibConstants } from 'node:zlib';

const BLOCK_SIZE = 1 << 20;
const WINDOW = 32 * 1024;
/** Blocks compressing at once: enough to keep the thread pool (4 threads by default) busy. */
const IN_FLIGHT = 4;
/** gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS = Unix (as zlib writes). */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

/** Bytes sampled (at the start and middle of a block) to judge whether it compresses at all. */
const SAMPLE = 32 * 1024;
/**
 * Order-0 entropy (bits per byte) above which a sample counts as incompressible. Random and
 * already-compressed bytes measure 7.99+; text, code and tar headers measure far lower. Data
 * that only compresses through long repeats of high-entropy runs is stored too: a few percent
 * larger, never wrong.
 */
const INCOMPRESSIBLE_BITS = 7.9;
/** Largest stored deflate block (LEN is 16 bits). */
const STORED_MAX = 0xffff;

function entropyBits(sample: Buffer): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < sample.length; i++) counts[sample[i]]++;
  let bits = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / sample.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * Already-compressed data (archives, media, random bytes) gains nothing from deflate and costs
 * the most time: such blocks are stored instead. The choice depends only on the block's bytes,
 * so the output stays deterministic.
 */
function incompressible(data: Buffer): boolean {
  if (data.length < 4 * SAMPLE) return false;
  const mid = Math.floor(data.length / 2);
  return [data.subarray(0, SAMPLE), data.subarray(mid, mid + SAMPLE)].every(
    (sample) => entropyBits(sample) > INCOMPRESSIBLE_BITS,
  );
}

/**
 * A block as stored deflate blocks (RFC 1951 3.2.4), written directly: zlib at level 0 still
 * runs its window machinery and is several times slower than a copy. Every block here starts
 * byte-aligned (the previous one ended with a sync flush or a stored block), so each header is
 * one whole byte (BFINAL, BTYPE=00, padding) followed by LEN and its complement; the data itself
 * is not copied.
 */
function storedBlocks(data: Buffer, last: boolean): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  do {
    const len = Math.min(STORED_MAX, data.length - off);
    const final = last && off + len === data.length;
    const header = Buffer.alloc(5);
    header[0] = final ? 1 : 0;
    header.writeUInt16LE(len, 1);
    header.writeUInt16LE(~len & 0xffff, 3);
    out.push(header, data.subarray(off, off + len));
    off += len;
  } while (off < data.length);
  return out;
}

async function deflateBlock(
  data: Buffer,
  dictionary: Buffer | undefined,
  last: boolean,
  level: number,
): Promise<Buffer[]> {
  if (level === 0 || incompressible(data)) return storedBlocks(data, last);
  return new Promise((resolve, reject) => {
    deflateRaw(
      data,
      {
        level,
        ...(dictionary ? { dictionary } : {}),
        // Non-final blocks end byte-aligned without the BFINAL bit, so they concatenate.
        finishFlush: last ? zlibConstants.Z_FINISH : zlibConstants.Z_SYNC_FLUSH,
      },
      (err, out) => (err ? reject(err) : resolve([out])),
    );
  });
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Last WINDOW bytes of the previous block: the next block's dictionary. */
  private previousTail?: Buffer;
  private crc = 0;
  private total = 0;
  private started = false;
  /** Compressions in order; the head is emitted first. */
  private queue: Promise<Buffer[]>[] = [];

  constructor(level = 6) {
    super({ highWaterMark: BLOCK_SIZE });
    this.level = level;
  }

  private takeBlock(size: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const block = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length ? [rest] : [];
    this.pendingLen = rest.length;
    return block;
  }

  private startBlock(block: Buffer, last: boolean): void {
    this.crc = crc32(block, this.crc);
    this.total += block.length;
    const job = deflateBlock(block, this.previousTail, last, this.level);
    job.catch(() => {}); // surfaced when awaited in order
    this.queue.push(job);
    this.previousTail = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  }

  /** Emit finished blocks in order until at most `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.queue.length > keep) {
      const out = await (this.queue.shift() as Promise<Buffer[]>);
      if (!this.started) {
        this.push(HEADER);
        this.started = true;
      }
      for (const piece of out) this.push(piece);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    // Keep at least one byte back so that the final block is always compressed with Z_FINISH.
    while (this.pendingLen > BLOCK_SIZE) this.startBlock(this.takeBlock(BLOCK_SIZE), false);
    this.drain(IN_FLIGHT - 1).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.startBlock(this.takeBlock(this.pendingLen), true);
    this.drain(0).then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total % 2 ** 32, 4);
      this.push(trailer);
      cb();
    }, cb);
  }
}
