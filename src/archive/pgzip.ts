/**
 * Block-parallel gzip (pigz's scheme): the input is cut into fixed 1 MiB blocks, each deflated
 * on the libuv thread pool with the previous 32 KiB as its dictionary and ended with a sync
 * flush, and the pieces are concatenated under one gzip header and trailer. The result is a
 * single valid gzip stream; it depends only on the input bytes (fixed block boundaries), so
 * layer digests are stable, and it uses every core, where plain zlib uses one.
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

const BLOCK_SIZE = 1 << 20;
const WINDOW = 32 * 1024;
/** Blocks compressing at once: enough to keep the thread pool (4 threads by default) busy. */
const IN_FLIGHT = 4;
/** gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS = Unix (as zlib writes). */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

/** Bytes sampled (at the start and middle of a block) to judge whether it compresses at all. */
const SAMPLE = 32 * 1024;
/** A sample that deflates to more than this fraction of its size is treated as incompressible. */
const INCOMPRESSIBLE = 0.97;

function deflateRaw(data: Buffer, options: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zlib.deflateRaw(data, options, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

/**
 * Already-compressed data (archives, media, random bytes) gains nothing from deflate and costs
 * the most time: such blocks are stored (level 0) instead. The choice depends only on the
 * block's bytes, so the output stays deterministic.
 */
async function incompressible(data: Buffer): Promise<boolean> {
  if (data.length < 4 * SAMPLE) return false;
  const mid = Math.floor(data.length / 2);
  for (const sample of [data.subarray(0, SAMPLE), data.subarray(mid, mid + SAMPLE)]) {
    const out = await deflateRaw(sample, { level: 1 });
    if (out.length < sample.length * INCOMPRESSIBLE) return false;
  }
  return true;
}

async function deflateBlock(
  data: Buffer,
  dictionary: Buffer | undefined,
  last: boolean,
  level: number,
): Promise<Buffer> {
  if (level > 0 && (await incompressible(data))) level = 0;
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(
      data,
      {
        level,
        ...(dictionary ? { dictionary } : {}),
        // Non-final blocks end byte-aligned without the BFINAL bit, so they concatenate.
        finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      },
      (err, out) => (err ? reject(err) : resolve(out)),
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
  private queue: Promise<Buffer>[] = [];

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
    this.crc = zlib.crc32(block, this.crc);
    this.total += block.length;
    const job = deflateBlock(block, this.previousTail, last, this.level);
    job.catch(() => {}); // surfaced when awaited in order
    this.queue.push(job);
    this.previousTail = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  }

  /** Emit finished blocks in order until at most `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.queue.length > keep) {
      const out = await (this.queue.shift() as Promise<Buffer>);
      if (!this.started) {
        this.push(HEADER);
        this.started = true;
      }
      this.push(out);
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
