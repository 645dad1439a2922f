/**
 * docker's JSON message stream (jsonmessage.JSONMessage, one object per line): `stream` text,
 * `status` with `id` and `progressDetail`, `aux` objects and `errorDetail`/`error`. Writes wait
 * for the client to take them (a slow reader slows the build's progress, never fills memory), and
 * stop quietly once the client has gone.
 */
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { messageOf } from './api.ts';

export interface JsonMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
  errorDetail?: { code?: number; message: string };
  error?: string;
}

/** Start a 200 response carrying a JSON message stream. */
export function startJsonStream(res: ServerResponse): JsonStream {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  return new JsonStream(res);
}

export class JsonStream {
  private readonly res: ServerResponse;

  constructor(res: ServerResponse) {
    this.res = res;
  }

  /** False once the client has gone: nothing more is written. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /** Send one message; resolves when the socket took it (or at once when the client has gone). */
  send(msg: JsonMessage): Promise<void> {
    if (!this.open) return Promise.resolve();
    const ok = this.res.write(`${JSON.stringify(msg)}\r\n`);
    if (ok) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Text a client prints as it is (the legacy builder's output, `Loaded image: …`). */
  text(s: string): Promise<void> {
    return this.send({ stream: s });
  }

  /** The failure a client shows and exits non-zero for; ends the stream. */
  async fail(err: unknown): Promise<void> {
    const message = messageOf(err);
    await this.send({ errorDetail: { message }, error: message });
    this.end();
  }

  end(): void {
    if (this.open) this.res.end();
  }

  /**
   * A text stream into `stream` messages, for a progress renderer that writes text: each write
   * becomes one message, taken at the client's pace.
   */
  textWriter(): Writable {
    return new Writable({
      write: (chunk: Buffer | string, _enc, cb) => {
        this.text(chunk.toString()).then(() => cb(), cb);
      },
    });
  }
}
