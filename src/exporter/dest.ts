/**
 * Where an output file goes, decided by what is there: a regular file (or nothing) is replaced
 * atomically; a character device, FIFO or `-` (stdout) is streamed into, never renamed over or
 * truncated; a directory, socket or block device is refused. Writing to stdout or a pipe waits
 * until every byte has left the process, and a reader that exits early is a clear error (141).
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, realpath, stat } from 'node:fs/promises';
import { isErrno, KilnError } from '../errors/errors.ts';
import { type FileData, writeFileAtomic } from '../sys/atomic-write.ts';

export interface DestOptions {
  /** Where `-` writes. */
  stdout: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** What the output is, for messages ("the archive", "the image ID"). */
  what?: string;
  /** How to fix a refused destination, e.g. "pass a file path such as ./image.tar". */
  hint?: string;
}

/** What a stat says a path is, in words for an error message. */
export function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function invalidDest(dest: string, st: Stats, opts: { what?: string; hint?: string }): KilnError {
  return new KilnError(
    'OUTPUT_DEST_INVALID',
    `cannot write ${opts.what ?? 'the output'} to ${dest}: it is ${kindOf(st)}`,
    {
      hint:
        opts.hint ??
        'pass the path of a file to create or replace, a FIFO or character device, or - for stdout',
    },
  );
}

/** A write failure as the user should see it: which output, where, and the system's reason. */
function writeFailed(dest: string, err: unknown, opts: DestOptions): unknown {
  if (err instanceof KilnError || (err as Error)?.name === 'AbortError') return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EPIPE' || code === 'ECONNRESET') {
    return new KilnError(
      'OUTPUT_CLOSED',
      `the reader of ${dest === '-' ? 'stdout' : dest} exited before ${opts.what ?? 'the output'} was written in full`,
      {
        cause: err,
        exitCode: 141,
        hint: 'check the command kiln was piped into; what it received is incomplete',
      },
    );
  }
  if (!code) return err;
  return new KilnError(
    'OUTPUT_WRITE_FAILED',
    `writing ${opts.what ?? 'the output'} to ${dest === '-' ? 'stdout' : dest} failed: ${(err as Error).message}`,
    { cause: err, hint: 'check the destination: its permissions, free space, and that it accepts writes' },
  );
}

/**
 * Write `data` to `dest` by the rules in the module comment. A symbolic link the user named is
 * followed to the file it points at (the link stays); a dangling one is replaced.
 */
export async function writeToDest(dest: string, data: FileData, opts: DestOptions): Promise<void> {
  try {
    if (dest === '-') return await writeStream(opts.stdout, data, opts.signal);
    const st = await stat(dest).catch((err) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (!st || st.isFile()) {
      const target = st ? await realpath(dest) : dest;
      return await writeFileAtomic(target, data, { signal: opts.signal });
    }
    if (!st.isCharacterDevice() && !st.isFIFO()) throw invalidDest(dest, st, opts);
    // No O_CREAT (nothing new is made), no O_TRUNC (a device or pipe has nothing to truncate),
    // O_NOCTTY (a terminal named as dest does not become our controlling terminal).
    const fh = await open(dest, constants.O_WRONLY | constants.O_NOCTTY);
    try {
      const now = await fh.stat();
      // The fd is what we write to: it must still be what stat saw, not a file put there since.
      if (!now.isCharacterDevice() && !now.isFIFO()) throw invalidDest(dest, now, opts);
      await writeFd(fh, data, opts.signal);
    } finally {
      await fh.close().catch(() => undefined);
    }
  } catch (err) {
    throw writeFailed(dest, err, opts);
  }
}

type Chunks = Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

function chunksOf(data: FileData): Chunks {
  return typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
}

/** Write everything to a descriptor we opened (a device or FIFO), whole chunks at a time. */
async function writeFd(fh: FileHandle, data: FileData, signal?: AbortSignal): Promise<void> {
  for await (const c of chunksOf(data)) {
    signal?.throwIfAborted();
    const buf = typeof c === 'string' ? Buffer.from(c) : c;
    let off = 0;
    while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
  }
}

/**
 * Stream into a writable that is not ours to end (stdout) and resolve only when the last byte
 * has been handed to the kernel: a write's callback runs after every write queued before it.
 * Returning earlier (and exiting) cut pipes short: `kiln image save | docker load`.
 */
async function writeStream(out: NodeJS.WritableStream, data: FileData, signal?: AbortSignal): Promise<void> {
  let failure: unknown;
  let wake: (() => void) | undefined;
  const fail = (err: unknown) => {
    failure ??= err;
    wake?.();
  };
  const onAbort = () => fail(signal?.reason);
  out.on('error', fail);
  signal?.addEventListener('abort', onAbort);
  try {
    let last: Promise<void> = Promise.resolve();
    for await (const chunk of chunksOf(data)) {
      if (failure !== undefined) break;
      last = new Promise((resolve) =>
        out.write(chunk, (err) => {
          if (err) fail(err);
          resolve();
        }),
      );
      if (!(out as NodeJS.WriteStream).writableNeedDrain) continue;
      // Backpressure: wait for the reader (or for the error that says there is none).
      await new Promise<void>((resolve) => {
        wake = resolve;
        out.once('drain', resolve);
      });
      out.removeListener('drain', wake!);
      wake = undefined;
    }
    if (failure === undefined) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        void last.then(resolve);
      });
    }
    if (failure !== undefined) throw failure;
  } finally {
    out.removeListener('error', fail);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * A directory output (type=local, an OCI layout directory): create it (and its parents, as
 * buildx does) when absent; refuse anything that is not a directory. Returns its real path,
 * so a link the user named is resolved once and never again.
 */
export async function prepareDirDest(
  dest: string,
  opts: { what?: string; hint?: string } = {},
): Promise<string> {
  const st = await stat(dest).catch((err) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (!st) {
    // A dangling symlink is stat's ENOENT too: mkdir would fail on it with EEXIST.
    const l = await lstat(dest).catch(() => undefined);
    if (l) throw invalidDest(dest, l, opts);
    await mkdir(dest, { recursive: true });
  } else if (!st.isDirectory()) {
    throw invalidDest(dest, st, opts);
  }
  return realpath(dest);
}
