/**
 * A second thread for the small files of a big COPY. Creating a file is the kernel's work, on
 * the thread that asks: copy.ts creates small files on the main thread (a read and a write each),
 * which leaves the other core idle, and libuv's pool costs twice the CPU per small file. Two
 * threads creating files in different directories take ~0.64x the time of one (W1's 20,000
 * files: 0.38-0.40 s against 0.60-0.61 s, the thread's ~30 ms start included).
 *
 * The thread does for each file what copy.ts does on the main thread for a file whose metadata
 * needs no more than its times (a fresh file, kiln's and the source's owner, no --chmod): open
 * the source without following a symlink and check it is the inode the walk saw, create the
 * target with O_EXCL (nothing there is followed or replaced), copy the bytes, set the mode where
 * open(2) would not and the times, close. It runs a script of its own (no module of kiln's: the
 * bundle and the sources alike start it the same way) and answers each batch when its files are
 * in place; the first failure ends the batch and is reported, with the file it was about.
 */
import type { Worker } from 'node:worker_threads';
import { sourceChanged } from '../confine/fd.ts';
import { encodePath } from '../sys/fsname.ts';

/** A file for the thread: the source as the walk saw it, the target, and what to set on it. */
export interface ThreadFile {
  /** The source's plain path (the walk's), for opening and for the error naming it. */
  src: string;
  dev: number;
  ino: number;
  target: string;
  mode: number;
  /** Seconds, as utimes takes them. */
  atime: number;
  mtime: number;
}

/** What the thread reports for a batch. */
interface Reply {
  batch: number;
  /** Index in the batch of the file that failed, and how. */
  failed?: {
    index: number;
    changed: boolean;
    code?: string;
    errno?: number;
    syscall?: string;
    message: string;
  };
}

/** Fields per file in a batch's flat array (the message is cloned: a few arrays, not objects). */
const FIELDS = 7;

/**
 * The thread's script (CommonJS, evaluated: no file of kiln's to find next to the bundle). Paths
 * arrive as strings or as the bytes of names that are not UTF-8.
 */
const SCRIPT = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
const O_CLOEXEC = fs.constants.O_CLOEXEC ?? 0o2000000;
const buf = Buffer.allocUnsafe(64 * 1024);
const umask = process.umask();
const path = (p) => (typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));
parentPort.on('message', ({ batch, files }) => {
  for (let i = 0, index = 0; i < files.length; i += ${FIELDS}, index++) {
    let stage = 'open';
    let fd = -1;
    let out = -1;
    try {
      fd = fs.openSync(path(files[i]), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      const st = fs.fstatSync(fd);
      if (st.dev !== files[i + 1] || st.ino !== files[i + 2] || !st.isFile()) {
        parentPort.postMessage({ batch, failed: { index, changed: true, message: 'replaced' } });
        return;
      }
      stage = 'copy';
      const mode = files[i + 4];
      out = fs.openSync(path(files[i + 3]), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      for (let pos = 0; ; ) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        for (let off = 0; off < n; ) off += fs.writeSync(out, buf, off, n - off);
        pos += n;
      }
      if ((mode & (umask | 0o7000)) !== 0) fs.fchmodSync(out, mode);
      fs.futimesSync(out, files[i + 5], files[i + 6]);
    } catch (err) {
      const changed = stage === 'open' && ['ELOOP', 'ENOENT', 'ENOTDIR'].includes(err.code);
      const { code, errno, syscall, message } = err;
      parentPort.postMessage({ batch, failed: { index, changed, code, errno, syscall, message: String(message) } });
      return;
    } finally {
      if (out >= 0) fs.closeSync(out);
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  parentPort.postMessage({ batch });
});
`;

/** A batch sent and not yet answered. */
interface Pending {
  files: readonly ThreadFile[];
  resolve(): void;
  reject(err: Error): void;
}

export class CopyThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private batches = 0;
  /** Set by the thread's own failure (not a file's): every batch after it fails with it. */
  private broken?: Error;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (r: Reply) => this.answer(r));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the copy thread exited (${code})`)));
  }

  static async start(): Promise<CopyThread> {
    const { Worker } = await import('node:worker_threads');
    return new CopyThread(new Worker(SCRIPT, { eval: true, stdout: false, stderr: false }));
  }

  /** Copy `files`; resolves when all are in place, rejects with the first failure's error. */
  copy(files: readonly ThreadFile[]): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const batch = ++this.batches;
    const flat: (string | Uint8Array | number)[] = [];
    for (const f of files)
      flat.push(encodePath(f.src), f.dev, f.ino, encodePath(f.target), f.mode, f.atime, f.mtime);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(batch, { files, resolve, reject });
      this.worker.postMessage({ batch, files: flat });
    });
  }

  /** Stop the thread (a file it is writing is finished first: nothing writes after this). */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.fail(new Error('the copy thread was stopped'));
  }

  private answer(r: Reply): void {
    const p = this.pending.get(r.batch);
    if (!p) return;
    this.pending.delete(r.batch);
    const f = r.failed;
    if (!f) p.resolve();
    else if (f.changed) p.reject(sourceChanged(p.files[f.index].src));
    else {
      // As node:fs throws it, so that errors.ts tells a full disk and the like by its code.
      const err = Object.assign(new Error(f.message), {
        code: f.code,
        errno: f.errno,
        syscall: f.syscall,
        path: p.files[f.index].target,
      });
      p.reject(err);
    }
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
