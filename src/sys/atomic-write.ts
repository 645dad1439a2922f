/**
 * The one way kiln replaces a file it does not hold open: write a temp file beside it, fsync,
 * rename over the name, fsync the directory. A reader sees the old file or the whole new one,
 * never a half; on failure the temp is removed and the old file is untouched.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of a new file, before the umask (default 0o666, as open(2) callers use). */
  mode?: number;
  /** Aborting stops the copy and removes the temp. */
  signal?: AbortSignal;
}

/** Bytes to write: a whole value, or chunks streamed without holding them all. */
export type FileData = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** The temp name for `path`: hidden, in the same directory (so rename stays on one filesystem). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Replace `path` with `data` atomically (see the module comment). */
export async function writeFileAtomic(
  path: string,
  data: FileData,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  opts.signal?.throwIfAborted();
  const tmp = tempNameFor(path);
  // O_EXCL|O_NOFOLLOW: the temp is ours alone, never something planted under its name.
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    opts.mode ?? 0o666,
  );
  let closed = false;
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await fh.writeFile(data);
    } else {
      for await (const chunk of data) {
        opts.signal?.throwIfAborted();
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        let off = 0;
        while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      }
    }
    opts.signal?.throwIfAborted();
    await fh.sync();
    closed = true;
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/** Make a rename in `dir` durable; a filesystem that cannot fsync a directory is not an error. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // EINVAL on some filesystems (e.g. certain FUSE mounts): the data itself is synced.
  } finally {
    await fh.close();
  }
}
