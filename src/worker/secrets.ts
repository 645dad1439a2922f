/**
 * Build secrets from `--secret id=…,src=FILE|env=VAR`, bounded as BuildKit bounds them: at most
 * 500 KiB (its secretsprovider.MaxSecretSize, 500 * 1024 bytes). A file is read through one
 * descriptor, never more than the limit plus one byte, so /dev/zero or a FIFO cannot grow
 * memory; a directory or socket is refused by name.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { KilnError } from '../errors/errors.ts';

/** BuildKit's limit (session/secrets/secretsprovider: MaxSecretSize = 500 * 1024). */
export const MAX_SECRET_SIZE = 500 * 1024;

export interface SecretSpecLike {
  id: string;
  src?: string;
  env?: string;
}

export interface SecretSource {
  /** The secret's bytes, or undefined when the build was not given it. */
  get(id: string): Promise<Buffer | undefined>;
}

function tooLarge(id: string, from: string, size?: number): KilnError {
  return new KilnError(
    'SECRET_TOO_LARGE',
    `secret "${id}" (${from}) is ${size === undefined ? 'larger than' : `${size} bytes, over`} the limit of ${MAX_SECRET_SIZE} bytes (500 KiB)`,
    { hint: 'secrets are for keys and tokens; pass a large file with a bind mount or COPY instead' },
  );
}

function notAFile(id: string, src: string, kind: string): KilnError {
  return new KilnError('SECRET_SOURCE_INVALID', `secret "${id}": ${src} is ${kind}, not a file`, {
    hint: `pass a file with --secret id=${id},src=FILE (or env=VAR)`,
  });
}

function unreadable(id: string, src: string, err: unknown): KilnError {
  return new KilnError(
    'SECRET_SOURCE_INVALID',
    `secret "${id}": cannot read ${src}: ${(err as Error).message}`,
    {
      cause: err,
      hint: `check the path in --secret id=${id},src=${src}`,
    },
  );
}

/**
 * Check what can be checked without reading, as BuildKit does when the build starts: a file
 * source exists, is not a directory or socket, and a regular file is within the limit.
 */
export async function checkSecrets(specs: SecretSpecLike[]): Promise<void> {
  for (const s of specs) {
    if (s.env !== undefined || s.src === undefined) continue;
    const st = await stat(s.src).catch((err) => {
      throw unreadable(s.id, s.src!, err);
    });
    if (st.isDirectory()) throw notAFile(s.id, s.src, 'a directory');
    if (st.isSocket()) throw notAFile(s.id, s.src, 'a socket');
    if (st.isFile() && st.size > MAX_SECRET_SIZE) throw tooLarge(s.id, s.src, st.size);
  }
}

/** Read a secret file: at most MAX_SECRET_SIZE + 1 bytes, whatever the file is. */
export async function readSecretFile(id: string, src: string): Promise<Buffer> {
  // O_NOCTTY: a terminal named as a source does not become our controlling terminal.
  const fh = await open(src, constants.O_RDONLY | constants.O_NOCTTY).catch((err) => {
    throw unreadable(id, src, err);
  });
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw notAFile(id, src, 'a directory');
    if (st.isFile() && st.size > MAX_SECRET_SIZE) throw tooLarge(id, src, st.size);
    // Devices and FIFOs report no size: read until EOF or one byte past the limit.
    const buf = Buffer.alloc(MAX_SECRET_SIZE + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null).catch((err) => {
        throw unreadable(id, src, err);
      });
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_SECRET_SIZE) throw tooLarge(id, src);
    const out = Buffer.from(buf.subarray(0, n));
    buf.fill(0);
    return out;
  } finally {
    await fh.close();
  }
}

/** Secrets from the build's specs, read only when a RUN asks for them (and each time it does). */
export function secretSource(specs: SecretSpecLike[]): SecretSource {
  return {
    async get(id) {
      const s = specs.find((x) => x.id === id);
      if (!s) return undefined;
      const env = s.env ?? (s.src === undefined ? id : undefined);
      if (env !== undefined) {
        const v = process.env[env];
        if (v === undefined) return undefined;
        const size = Buffer.byteLength(v);
        if (size > MAX_SECRET_SIZE) throw tooLarge(id, `environment variable ${env}`, size);
        return Buffer.from(v);
      }
      return readSecretFile(id, s.src!);
    },
  };
}
