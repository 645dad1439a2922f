/**
 * Streaming tar writer: a Readable that emits a PAX/ustar archive as entries are added.
 * `add()` resolves once the entry's bytes are handed to the consumer (it waits on
 * backpressure), so a producer that awaits each add never buffers more than one chunk.
 */
import { Readable } from 'node:stream';
import { KilnError } from '../../errors/errors.ts';
import {
  BLOCK,
  completeHeader,
  encodeHeader,
  padding,
  type TarHeader,
  type TarHeaderInput,
} from './header.ts';

export type TarContent = Uint8Array | AsyncIterable<Uint8Array>;

export class TarWriter extends Readable {
  private waiting?: () => void;
  private busy = false;
  private finished = false;

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

  private async pushChunk(chunk: Buffer): Promise<void> {
    if (this.destroyed) {
      throw new KilnError('TAR_WRITER_CLOSED', 'tar writer was destroyed while entries were being added', {
        cause: this.errored ?? undefined,
      });
    }
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
      const header = encodeHeader(h);
      if (h.type !== 'file' || h.size === 0) {
        if (content instanceof Uint8Array && content.length > 0 && h.type !== 'file') {
          throw new KilnError(
            'TAR_CONTENT_INVALID',
            `entry "${h.path}" of type ${h.type} cannot have content`,
          );
        }
        await this.pushChunk(header);
        return;
      }
      if (content === undefined) {
        throw new KilnError(
          'TAR_CONTENT_MISSING',
          `regular file "${h.path}" has size ${h.size} but no content`,
        );
      }
      if (content instanceof Uint8Array) {
        if (content.length !== h.size) throw sizeMismatch(h, content.length);
        // Small files: one buffer for header, data and padding (fewer pushes, much faster).
        await this.pushChunk(Buffer.concat([header, content, Buffer.alloc(padding(h.size))]));
        return;
      }
      await this.pushChunk(header);
      let written = 0;
      for await (const chunk of content) {
        written += chunk.length;
        if (written > h.size) throw sizeMismatch(h, written);
        await this.pushChunk(
          Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
        );
      }
      if (written !== h.size) throw sizeMismatch(h, written);
      const pad = padding(h.size);
      if (pad) await this.pushChunk(Buffer.alloc(pad));
    } catch (err) {
      // A half-written member would corrupt the archive: fail the stream too.
      if (!this.destroyed) this.destroy(err as Error);
      throw err;
    } finally {
      this.busy = false;
    }
  }

  /** Write the end-of-archive marker (two zero blocks) and end the stream. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.pushChunk(Buffer.alloc(BLOCK * 2));
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
