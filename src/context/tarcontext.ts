/**
 * A build context that arrives as a tar stream (`kiln build - < ctx.tar`, or the Engine API's
 * /build body): extracted with src/archive's confined applier into a private temp directory,
 * then used like any directory context. gzip, bzip2, xz and zstd contexts are accepted. The
 * applier hashes each file as it writes it and hands the digests to the checksum (handed.ts).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extractArchive } from '../archive/apply.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { handDigests } from './handed.ts';

export type ArchiveKind = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'tar';

/** Compression by magic bytes ('tar' = none). */
export function sniffCompression(head: Uint8Array): ArchiveKind {
  const b = Buffer.from(head);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    return 'xz';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'tar';
}

export interface TarContext {
  /** The extracted context directory. */
  dir: string;
  /** Remove the directory. */
  cleanup(): void;
  /**
   * Remove the directory without waiting: it is renamed out of the way at once and deleted by a
   * low-priority `rm -rf` (a server's event loop must not stall for the seconds that tens of
   * thousands of unlinks take, nor its next build wait for them).
   */
  discard(): void;
  /** Forget the handed digests only, leaving the directory (one given by `into`) in place. */
  release(): void;
}

/** Rename `dir` aside and delete it in a niced child process (fs.rm if there is no rm). */
export function removeInBackground(dir: string): void {
  const trash = `${dir}.trash`;
  let victim = dir;
  try {
    renameSync(dir, trash);
    victim = trash;
  } catch {
    // Gone already, or not renameable: remove it where it is.
  }
  const fallback = (): void => {
    rm(victim, { recursive: true, force: true }).catch(() => {});
  };
  try {
    const child = spawn('nice', ['-n', '19', 'rm', '-rf', '--', victim], { stdio: 'ignore' });
    child.on('error', fallback);
    child.unref();
  } catch {
    fallback();
  }
}

/** The first `n` bytes (or all, if fewer) and a stream that yields everything, those included. */
export async function peek(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.from(r.value);
    parts.push(b);
    len += b.length;
  }
  const head = Buffer.concat(parts);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value);
    }
  }
  return { head, stream: Readable.from(rest()) };
}

function throughTool(tool: string, input: Readable): Readable {
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  input.on('error', (e) => child.stdout.destroy(e));
  child.stdin.on('error', () => {});
  input.pipe(child.stdin);
  child.on('close', (code) => {
    if (code !== 0)
      child.stdout.destroy(new KilnError('CONTEXT_DECOMPRESS_FAILED', `${tool} -d failed: ${stderr.trim()}`));
  });
  return child.stdout;
}

/**
 * Extract a (possibly compressed) tar context into a new temp directory, or with `into` into a
 * private directory that holds an earlier upload of a context: files whose bytes are unchanged
 * are kept, the rest written, and what the tar does not hold removed (applyLayer's sync). On
 * failure, a directory given by `into` is left for its owner to discard.
 */
export async function contextFromTar(
  source: Readable | AsyncIterable<Uint8Array>,
  opts: { tmpDir?: string; into?: string } = {},
): Promise<TarContext> {
  if (opts.tmpDir) mkdirSync(opts.tmpDir, { recursive: true, mode: 0o700 });
  const dir = opts.into ?? mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'kiln-context-'));
  chmodSync(dir, 0o700);
  const digests = new Map<string, Digest>();
  let forget = (): void => {};
  const cleanup = (): void => {
    forget();
    rmSync(dir, { recursive: true, force: true });
  };
  const discard = (): void => {
    forget();
    removeInBackground(dir);
  };
  try {
    const { head, stream } = await peek(source, 6);
    const kind = sniffCompression(head);
    const input = kind === 'bzip2' || kind === 'xz' ? throughTool(kind, stream) : stream;
    // gzip and zstd are detected by the applier itself; ownership is not kept (contexts are sent as 0:0).
    // A context tar is a plain archive: .wh.* names are ordinary files.
    // Each file is hashed as it is written: the build's context checksum uses those digests.
    await extractArchive(input, dir, {
      sameOwner: false,
      whiteouts: 'none',
      fileDigests: digests,
      sync: opts.into !== undefined,
    });
    forget = handDigests(dir, realpathSync(dir), digests);
  } catch (err) {
    if (opts.into === undefined) cleanup();
    throw new KilnError(
      'CONTEXT_TAR_INVALID',
      `cannot read the build context tar: ${(err as Error).message}`,
      {
        hint: 'the context on stdin must be a tar archive (optionally gzip, bzip2, xz or zstd compressed)',
        cause: err,
      },
    );
  }
  return { dir, cleanup, discard, release: () => forget() };
}
