/**
 * Request bodies, bounded: a streamed body (a build context, an archive to load) passes a byte
 * limit on its way in, and a small body the server must parse is read only up to its cap.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { ByteLimit } from '../archive/compress.ts';
import { HttpError } from './api.ts';

function tooLarge(what: string, max: number): HttpError {
  return new HttpError(
    413,
    'REQUEST_TOO_LARGE',
    `${what} is larger than ${max} bytes, the most kiln serve accepts`,
    'send less, or start kiln serve with a larger --max-body',
  );
}

/** The body as a stream that fails with REQUEST_TOO_LARGE past `max` bytes. */
export function limitedBody(req: IncomingMessage, max: number, what: string): Readable {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw tooLarge(what, max);
  const limit = new ByteLimit(max, (m) => tooLarge(what, m));
  // A failure on either side ends both: the request is drained no further.
  pipeline(req, limit, () => {});
  return limit;
}

/** A small body read into memory, at most `max` bytes (for JSON bodies). */
export async function smallBody(req: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of limitedBody(req, max, what)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
