/**
 * A second thread for the many small file operations of a big COPY: creating files (copy.ts) and
 * linking the unchanged files of an incremental COPY (reuse.ts). Each is the kernel's work on the
 * thread that asks, ~10-30 µs a file: on the main thread alone the other core stays idle, and
 * libuv's pool costs more per file than the call itself (a pool round trip, and for copyFile a
 * reopen through /proc, a chown, a chmod and a splice). Two threads working in different
 * directories take ~0.64x the time of one (W1's 20,000 files copied: 0.38-0.40 s against
 * 0.60-0.61 s, the thread's ~30 ms start included).
 *
 * Copy: for each file, what copy.ts does on the main thread for a file whose metadata needs no
 * more than its times (a fresh file, kiln's and the source's owner, no --chmod): open the source
 * without following a symlink and check it is the inode the walk saw, create the target with
 * O_EXCL (nothing there is followed or replaced), copy the bytes, set the mode where open(2)
 * would not and the times, close. Link: link(2) each pair (which follows no symlink at either).
 *
 * The thread runs a script of its own (no module of kiln's: the bundle and the sources start it
 * alike) and answers each batch when its files are in place; the first failure ends the batch
 * and is reported with the file it was about.
 */
import type { Worker } from 'node:worker_threads';
import { sourceChanged } from '../confine/fd.ts';
import { encodePath } from '../sys/fsname.ts';

/** A file to copy: the source as the walk saw it, the target, and what to set on it. */
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

/** A hard link to make: `target` becomes another name of `from`. */
export interface ThreadLink {
  from: string;
  target: string;
}

/** What the thread reports for a batch. */
interface Reply {
  batch: number;
  /** Index in the batch of the operation that failed, and how. */
  failed?: {
    index: number;
    changed: boolean;
    code?: string;
    errno?: number;
    syscall?: string;
    message: string;
  };
}

/** Batches sent to the thread and not answered yet, at most, while the sender works on (ready). */
const QUEUED = 2;

/** Fields per operation in a batch's flat array (the message is cloned: an array, not objects). */
const COPY_FIELDS = 7;
const LINK_FIELDS = 2;

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
const failed = (batch, index, changed, err) => {
  const { code, errno, syscall, message } = err;
  parentPort.postMessage({ batch, failed: { index, changed, code, errno, syscall, message: String(message) } });
};
const copy = (batch, files) => {
  for (let i = 0, index = 0; i < files.length; i += ${COPY_FIELDS}, index++) {
    let stage = 'open';
    let fd = -1;
    let out = -1;
    try {
      fd = fs.openSync(path(files[i]), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      const st = fs.fstatSync(fd);
      if (st.dev !== files[i + 1] || st.ino !== files[i + 2] || !st.isFile()) {
        failed(batch, index, true, { message: 'replaced' });
        return false;
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
      failed(batch, index, stage === 'open' && ['ELOOP', 'ENOENT', 'ENOTDIR'].includes(err.code), err);
      return false;
    } finally {
      if (out >= 0) fs.closeSync(out);
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  return true;
};
const link = (batch, pairs) => {
  for (let i = 0, index = 0; i < pairs.length; i += ${LINK_FIELDS}, index++) {
    try {
      fs.linkSync(path(pairs[i]), path(pairs[i + 1]));
    } catch (err) {
      failed(batch, index, false, err);
      return false;
    }
  }
  return true;
};
parentPort.on('message', ({ batch, op, files }) => {
  if ((op === 'copy' ? copy : link)(batch, files)) parentPort.postMessage({ batch });
});
`;

/** A batch sent and not yet answered. */
interface Pending {
  /** Names the operation that failed: the source of a copy (as it changed) or the target. */
  name(index: number, changed: boolean): string;
  resolve(): void;
  reject(err: Error): void;
}

export class FileThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private batches = 0;
  /** Set by the thread's own failure (not a file's): every batch after it fails with it. */
  private broken?: Error;
  /** The thread runs JavaScript (it boots in 50–120 ms here): `ready` until then is false. */
  private online = false;
  private readonly onOnline: (() => void)[] = [];

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.once('online', () => {
      this.online = true;
      for (const f of this.onOnline.splice(0)) f();
    });
    worker.on('message', (r: Reply) => this.answer(r));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the file thread exited (${code})`)));
  }

  static async start(): Promise<FileThread> {
    const { Worker } = await import('node:worker_threads');
    return new FileThread(new Worker(SCRIPT, { eval: true, stdout: false, stderr: false }));
  }

  /**
   * Whether to send it another batch: the thread is up and fewer than QUEUED are waiting or
   * running (one runs while the next waits; the sender does the rest itself meanwhile). Batches
   * sent while it still booted waited for it, and the sender for them at its end: an incremental
   * COPY of 2,000 files waited 35–45 ms so for the links of two batches (18–24 ms now).
   */
  get ready(): boolean {
    return this.online && this.pending.size < QUEUED;
  }

  /** Call `fn` once the thread is up (at once when it is). */
  whenOnline(fn: () => void): void {
    if (this.online) fn();
    else this.onOnline.push(fn);
  }

  /** Copy `files`; resolves when all are in place, rejects with the first failure's error. */
  copy(files: readonly ThreadFile[]): Promise<void> {
    const flat: (string | Uint8Array | number)[] = [];
    for (const f of files)
      flat.push(encodePath(f.src), f.dev, f.ino, encodePath(f.target), f.mode, f.atime, f.mtime);
    return this.send('copy', flat, (i, changed) => (changed ? files[i].src : files[i].target));
  }

  /** Make the links, in order; rejects with the first failure's error (the links before it stay). */
  link(links: readonly ThreadLink[]): Promise<void> {
    const flat: (string | Uint8Array)[] = [];
    for (const l of links) flat.push(encodePath(l.from), encodePath(l.target));
    return this.send('link', flat, (i) => links[i].target);
  }

  /** Stop the thread (an operation under way is finished first: nothing is done after this). */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.fail(new Error('the file thread was stopped'));
  }

  private send(op: 'copy' | 'link', files: unknown[], name: Pending['name']): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const batch = ++this.batches;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(batch, { name, resolve, reject });
      this.worker.postMessage({ batch, op, files });
    });
  }

  private answer(r: Reply): void {
    const p = this.pending.get(r.batch);
    if (!p) return;
    this.pending.delete(r.batch);
    const f = r.failed;
    if (!f) p.resolve();
    else if (f.changed) p.reject(sourceChanged(p.name(f.index, true)));
    else {
      // As node:fs throws it, so that errors.ts tells a full disk and the like by its code.
      const err = Object.assign(new Error(f.message), {
        code: f.code,
        errno: f.errno,
        syscall: f.syscall,
        path: p.name(f.index, false),
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
