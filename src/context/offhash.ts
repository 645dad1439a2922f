/**
 * sha256 of large files in a process of their own: `openssl dgst -sha256` run through the fork
 * server (sys/forkserver.ts), which on a cold checksum of a context with large files (W1's
 * 128 MiB) does on the other core what would otherwise hold kiln's main thread for ~0.1 s while
 * a FROM's unpack waits for turns beside it. Files go by descriptor: kiln opens each (never
 * following a link at its name, checked to be a regular file) and openssl reads it through
 * /proc/<kiln's pid>/fd/<n>, which is the open file itself, whatever has happened to the name
 * since. One openssl at a time takes every file queued by then (up to MAX_BATCH). A batch it
 * cannot answer for (no openssl, no /proc, a failure, output that is not one digest a file in
 * order) is hashed here instead, on the main thread as before, and so is every file after it.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../digest/digest.ts';
import { runShort } from '../sys/forkserver.ts';
import { closeSync, readSync } from '../sys/fs.ts';

/** Files one openssl process hashes at most (descriptors held open until it ends). */
const MAX_BATCH = 32;

interface Queued {
  fd: number;
  resolve(digest: Digest): void;
  reject(err: unknown): void;
}

/** One line of `openssl dgst -sha256 -r`: the digest, then ` *` and the path it was given. */
const LINE = /^([0-9a-f]{64}) \*(.*)$/;

export class HelperHasher {
  private queue: Queued[] = [];
  private running = false;
  /** openssl could not answer once: every file is hashed here from then on. */
  private failed = false;
  private readonly command: string;

  constructor(command = 'openssl') {
    this.command = command;
  }

  /** The digest of the regular file open at `fd`, read from its start; the descriptor is closed once it is read. */
  hash(fd: number): Promise<Digest> {
    return new Promise<Digest>((resolve, reject) => {
      this.queue.push({ fd, resolve, reject });
      void this.next();
    });
  }

  /** Whether files go to openssl (false once it could not answer). */
  get offThread(): boolean {
    return !this.failed;
  }

  private async next(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, MAX_BATCH);
    try {
      const digests = this.failed ? undefined : await this.helper(batch.map((q) => q.fd));
      if (!digests) this.failed = true;
      for (const [i, q] of batch.entries()) {
        try {
          q.resolve(digests?.[i] ?? hashOpenFile(q.fd));
        } catch (err) {
          q.reject(err);
        }
      }
    } finally {
      for (const q of batch) closeSync(q.fd);
      this.running = false;
    }
    void this.next();
  }

  /** The batch's digests from openssl, in order, or undefined when it cannot answer for them. */
  private async helper(fds: number[]): Promise<Digest[] | undefined> {
    const paths = fds.map((fd) => `/proc/${process.pid}/fd/${fd}`);
    let out: string;
    try {
      const r = await runShort(this.command, ['dgst', '-sha256', '-r', ...paths]);
      if (r.status !== 0) return undefined;
      out = r.stdout.toString('utf8');
    } catch {
      return undefined; // the fork server itself could not run
    }
    const lines = out.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (lines.length !== paths.length) return undefined;
    const digests: Digest[] = [];
    for (const [i, line] of lines.entries()) {
      const m = LINE.exec(line);
      if (!m || m[2] !== paths[i]) return undefined;
      digests.push(`sha256:${m[1]}`);
    }
    return digests;
  }
}

let chunk: Buffer | undefined;

/** sha256 of the file open at `fd`, from its start, on this thread, 1 MiB at a time. */
export function hashOpenFile(fd: number): Digest {
  const h = createHash('sha256');
  chunk ??= Buffer.allocUnsafe(1 << 20);
  for (let at = 0; ; ) {
    const n = readSync(fd, chunk, 0, chunk.length, at);
    if (n === 0) break;
    h.update(n === chunk.length ? chunk : chunk.subarray(0, n));
    at += n;
  }
  return `sha256:${h.digest('hex')}`;
}

let shared: HelperHasher | undefined;

/** The process's hasher: one openssl at a time for all its checksums. */
export function helperHasher(): HelperHasher {
  shared ??= new HelperHasher();
  return shared;
}
