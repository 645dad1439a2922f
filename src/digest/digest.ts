/**
 * Content digests (`algorithm:hex`): parsing, validation, and hashing and verifying of buffers
 * and streams. sha256 is what kiln writes; sha512 is accepted on read, as the OCI image spec allows.
 */
import { createHash, type Hash } from 'node:crypto';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { KilnError } from '../errors/errors.ts';

/** A validated digest string such as `sha256:9f86d0…`. */
export type Digest = `${string}:${string}`;

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export function isDigest(value: string): value is Digest {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(value);
  return m !== null && m[2].length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

/** Parse and validate; throws INVALID_DIGEST with the offending text. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new KilnError('INVALID_DIGEST', `invalid digest "${value}"`, {
      hint: 'a digest is "sha256:" followed by 64 lowercase hex digits',
    });
  }
  return value;
}

export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return d.slice(0, d.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hashOf(algorithm: DigestAlgorithm, data: string | Uint8Array): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental digester: feed bytes, read the digest and byte count at the end. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  size = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** A pass-through stream that digests and counts what flows through it. */
export class DigestStream extends Transform {
  private readonly digester: Digester;
  private result?: Digest;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    super();
    this.digester = new Digester(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digester.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = this.digester.digest();
    cb();
  }

  get size(): number {
    return this.digester.size;
  }

  get algorithm(): DigestAlgorithm {
    return this.digester.algorithm;
  }

  /** Available once the stream has ended. */
  digest(): Digest {
    if (!this.result) throw new KilnError('DIGEST_NOT_READY', 'digest read before the stream ended');
    return this.result;
  }
}

const TAMPERED = 'the content was corrupted or tampered with in transit or storage';

/**
 * The one digest mismatch error: `what` (a blob, a manifest, a layer's diff, a download) hashed
 * to `actual` where `expected` was wanted. Every check of content against its digest raises it,
 * so the message reads the same wherever a mismatch is found; `code` is ADD_CHECKSUM_MISMATCH
 * for a user's `ADD --checksum`, `detail` says more (the sizes), `hint` what is to blame.
 */
export function digestMismatch(
  what: string,
  expected: string,
  actual: string,
  opts: { code?: 'DIGEST_MISMATCH' | 'ADD_CHECKSUM_MISMATCH'; detail?: string; hint?: string } = {},
): KilnError {
  const detail = opts.detail ? ` (${opts.detail})` : '';
  return new KilnError(
    opts.code ?? 'DIGEST_MISMATCH',
    `${what}: digest mismatch: expected ${expected}, got ${actual}${detail}`,
    { hint: opts.hint ?? (opts.code ? undefined : TAMPERED) },
  );
}

/** Throws DIGEST_MISMATCH unless `actual` equals `expected` (and sizes match when given). */
export function verifyDigest(
  what: string,
  expected: Digest,
  actual: Digest,
  expectedSize?: number,
  actualSize?: number,
): void {
  if (expected !== actual) throw digestMismatch(what, expected, actual);
  if (expectedSize !== undefined && actualSize !== undefined && expectedSize !== actualSize) {
    throw new KilnError(
      'SIZE_MISMATCH',
      `${what}: size mismatch: expected ${expectedSize} bytes, got ${actualSize}`,
    );
  }
}

/** What a verified stream must turn out to be: a descriptor satisfies it. */
export interface ExpectedContent {
  digest: Digest;
  size: number;
}

/** A pass-through that fails the stream unless exactly `expected.size` bytes of `expected.digest` flow. */
export class VerifyStream extends Transform {
  private readonly digester: Digester;
  private readonly expected: ExpectedContent;

  constructor(expected: ExpectedContent) {
    super();
    this.expected = expected;
    this.digester = new Digester(digestAlgorithm(expected.digest));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digester.update(chunk);
    if (this.digester.size > this.expected.size) {
      cb(
        new KilnError(
          'SIZE_MISMATCH',
          `blob ${this.expected.digest}: more than the ${this.expected.size} bytes its descriptor says`,
          { hint: 'the source serves different content than it advertises' },
        ),
      );
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual = this.digester.digest();
    if (this.digester.size !== this.expected.size) {
      cb(
        new KilnError(
          'SIZE_MISMATCH',
          `blob ${this.expected.digest}: expected ${this.expected.size} bytes, got ${this.digester.size}`,
          { hint: 'the source is truncated or serves different content than it advertises' },
        ),
      );
    } else if (actual !== this.expected.digest) {
      cb(
        digestMismatch(`blob ${this.expected.digest}`, this.expected.digest, actual, {
          hint: 'the source is corrupt or serves different content than it advertises',
        }),
      );
    } else cb();
  }
}

/**
 * `input` verified as it is read. Joined by pipeline, not pipe: a mismatch found before the
 * reader has started (a small blob flows into the verifier at once) is held for the reader
 * instead of being emitted with nobody listening, which crashed the process; and a reader
 * that stops early closes the input.
 */
export function verifying(input: Readable, expected: ExpectedContent): Readable {
  return pipeline(input, new VerifyStream(expected), () => {});
}
