/**
 * Streaming tar writer: a Readable that emits a PAX/ustar archive as entries are added.
 * `add()` resolves once the entry's bytes are handed to the consumer (it waits on
 * backpressure), so a producer that awaits each add never buffers more than one chunk.
 */
import { Readable } from 'node:stream';
import { KilnError } from '../../errors/errors.ts';
import { YoungCollector } from '../../sys/gc.ts';
import {
  BLOCK,
  completeHeader,
  encodeHeader,
  padding,
  type TarHeader,
  type TarHeaderInput,
  writeUstarHeader,
} from './header.ts';

/** Writes a regular file's bytes into `dest` (exactly its size); throws when it cannot. */
export type TarFill = (dest: Buffer) => void;

export type TarContent = Uint8Array | AsyncIterable<Uint8Array> | TarFill;

/**
 * Entries that fit are gathered into chunks of this size: a layer of 20,000 small files was
 * 20,000 pushes through the stream, the digest and the ingest writer, and as many buffers
 * for the collector; now it is a hundred or so.
 */
const STAGE = 1 << 20;
/**
 * Bytes pushed between young collections (sys/gc.ts): the chunks pushed before are dead
 * by then, so the tar, digest and gzip stages leave ~16 MiB of garbage, not ~64.
 */
const COLLECT_EVERY = 16 << 20;

export class TarWriter extends Readable {
  private waiting?: () => void;
  private busy = false;
  private finished = false;
  private stage = Buffer.allocUnsafe(STAGE);
  private staged = 0;
  private pushed = 0;
  private readonly collector = new YoungCollector(COLLECT_EVERY);

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _read(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Wake a producer blocked on backpressure so it sees the destroyed state.
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
    cb(err);
  }

  /** Push what is staged (a fresh stage follows: the pushed one now belongs to the consumer). */
  private async flushStage(): Promise<void> {
    if (this.staged === 0) return;
    const chunk = this.stage.subarray(0, this.staged);
    this.stage = Buffer.allocUnsafe(STAGE);
    this.staged = 0;
    await this.pushChunk(chunk);
  }

  /**
   * `h`'s header into the stage with room for `after` more bytes behind it; undefined when it is
   * there, else its bytes (it does not fit a stage). Most headers are one ustar block, written in
   * place: no 512-byte Buffer of their own for every member.
   */
  private async headerInStage(h: TarHeader, after: number): Promise<Buffer | undefined> {
    if ((await this.reserve(BLOCK + after)) && writeUstarHeader(h, this.stage, this.staged)) {
      this.staged += BLOCK;
      return undefined;
    }
    const header = encodeHeader(h);
    if (!(await this.reserve(header.length + after))) return header;
    this.staged += header.copy(this.stage, this.staged);
    return undefined;
  }

  /** Room for `n` more bytes in the stage, flushing it first when needed; false if `n` never fits. */
  private async reserve(n: number): Promise<boolean> {
    if (n > STAGE) return false;
    if (this.staged + n > STAGE) await this.flushStage();
    return true;
  }

  private async pushChunk(chunk: Buffer): Promise<void> {
    if (this.destroyed) {
      throw new KilnError('TAR_WRITER_CLOSED', 'tar writer was destroyed while entries were being added', {
        cause: this.errored ?? undefined,
      });
    }
    this.collector.add(chunk.length);
    this.pushed += chunk.length;
    if (!this.push(chunk)) await new Promise<void>((resolve) => (this.waiting = resolve));
  }

  /**
   * Append one entry. `content` is required for regular files with size > 0 and must yield
   * exactly `size` bytes (TAR_SIZE_MISMATCH otherwise). Calls must not overlap.
   */
  async add(input: TarHeaderInput, content?: TarContent): Promise<void> {
    if (this.busy)
      throw new KilnError('TAR_WRITER_BUSY', 'TarWriter.add called before the previous add resolved');
    if (this.finished) throw new KilnError('TAR_WRITER_CLOSED', `cannot add "${input.path}" after finish()`);
    this.busy = true;
    try {
      const h: TarHeader = completeHeader(input);
      if (h.type === 'file' && content instanceof Uint8Array && input.size === undefined)
        h.size = content.length;
      if (h.type !== 'file' || h.size === 0) {
        if (content instanceof Uint8Array && content.length > 0 && h.type !== 'file') {
          throw new KilnError(
            'TAR_CONTENT_INVALID',
            `entry "${h.path}" of type ${h.type} cannot have content`,
          );
        }
        const header = await this.headerInStage(h, 0);
        if (header) {
          await this.flushStage();
          await this.pushChunk(header);
        }
        return;
      }
      if (content === undefined) {
        throw new KilnError(
          'TAR_CONTENT_MISSING',
          `regular file "${h.path}" has size ${h.size} but no content`,
        );
      }
      if (content instanceof Uint8Array && content.length !== h.size) throw sizeMismatch(h, content.length);
      const pad = padding(h.size);
      const header =
        Symbol.asyncIterator in content ? encodeHeader(h) : await this.headerInStage(h, h.size + pad);
      if (header === undefined) {
        // Header, data and padding straight into the stage.
        let at = this.staged;
        const data = this.stage.subarray(at, at + h.size);
        if (content instanceof Uint8Array) data.set(content);
        else (content as TarFill)(data);
        at += h.size;
        this.stage.fill(0, at, at + pad);
        this.staged = at + pad;
        return;
      }
      await this.flushStage();
      await this.pushChunk(header);
      if (content instanceof Uint8Array) {
        await this.pushChunk(Buffer.from(content.buffer, content.byteOffset, content.length));
      } else if (!(Symbol.asyncIterator in content)) {
        const data = Buffer.allocUnsafe(h.size);
        content(data);
        await this.pushChunk(data);
      } else {
        let written = 0;
        for await (const chunk of content) {
          written += chunk.length;
          if (written > h.size) throw sizeMismatch(h, written);
          await this.pushChunk(
            Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
          );
        }
        if (written !== h.size) throw sizeMismatch(h, written);
      }
      if (pad) await this.pushChunk(Buffer.alloc(pad));
    } catch (err) {
      // A half-written member would corrupt the archive: fail the stream too.
      if (!this.destroyed) this.destroy(err as Error);
      throw err;
    } finally {
      this.busy = false;
    }
  }

  /** Bytes of the archive so far: after an add, its end (the data and padding included). */
  get offset(): number {
    return this.pushed + this.staged;
  }

  /** Write the end-of-archive marker (two zero blocks) and end the stream. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.reserve(BLOCK * 2); // always fits
    this.stage.fill(0, this.staged, this.staged + BLOCK * 2);
    this.staged += BLOCK * 2;
    await this.flushStage();
    this.push(null);
  }
}

function sizeMismatch(h: TarHeader, got: number): KilnError {
  return new KilnError(
    'TAR_SIZE_MISMATCH',
    `"${h.path}": header says ${h.size} bytes but content has ${got}`,
    {
      hint: 'the file changed while it was being archived',
    },
  );
}
