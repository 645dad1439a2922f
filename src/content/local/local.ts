/**
 * The local content store: blobs at <root>/blobs/<alg>/<hex>, ingested through a temp file in
 * <root>/ingest/ that is hashed while it streams, checked against the expected size and digest,
 * fsynced and renamed into place. A crash leaves at most a temp file, never a wrong blob. Blobs a
 * leased operation reads are held in hold files under <root>/holds, which GC honours.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type Digest,
  type DigestAlgorithm,
  Digester,
  DigestStream,
  digestAlgorithm,
  digestHex,
  digestMismatch,
  hashOf,
  isDigest,
  parseDigest,
} from '../../digest/digest.ts';
import { diskFull, isDiskFull, isErrno, KilnError } from '../../errors/errors.ts';
import { HoldFiles } from '../../sys/holds.ts';
import type { BlobHolder, BlobInfo, ContentStore, Expected } from '../content.ts';
import type { MetaDB } from './meta.ts';

export interface LocalContentOptions {
  /** When set, each commit (rename) runs inside a metadata transaction, serialized against GC. */
  meta?: MetaDB;
  /** A lease that every committed blob is added to (needs `meta`). */
  lease?: string;
  /** The hold files of this root (shared by the store and its leased views). */
  holds?: HoldFiles;
}

/** A temp file in the ingest directory and the process that writes it. */
export interface IngestTemp {
  path: string;
  name: string;
  pid?: number;
  mtimeMs: number;
  size: number;
}

/**
 * The lease of the surrounding async context (set by Store.withLease): blobs committed through a
 * store with a metadata DB but no explicit lease are added to it, so code that writes through the
 * plain store inside `withLease(async () => …)` is protected from GC as well.
 */
export const leaseContext = new AsyncLocalStorage<string>();

const ALGORITHMS: DigestAlgorithm[] = ['sha256', 'sha512'];
const TEMP_NAME = /^(\d+)-[0-9a-f]+\.tmp$/;

export class LocalContentStore implements ContentStore, BlobHolder {
  readonly root: string;
  readonly blobsDir: string;
  readonly ingestDir: string;
  private readonly meta?: MetaDB;
  private readonly lease?: string;
  private readonly holds: HoldFiles;

  constructor(root: string, opts: LocalContentOptions = {}) {
    this.root = root;
    this.blobsDir = join(root, 'blobs');
    this.ingestDir = join(root, 'ingest');
    this.meta = opts.meta;
    this.lease = opts.lease;
    this.holds = opts.holds ?? new HoldFiles(join(root, 'holds'));
    if (opts.lease && !opts.meta)
      throw new KilnError('LEASE_WITHOUT_DB', 'a lease needs the metadata database');
  }

  /** The same store, with every blob written through it held by `leaseId` until the lease goes. */
  withLease(leaseId: string): LocalContentStore {
    return new LocalContentStore(this.root, { meta: this.meta, lease: leaseId, holds: this.holds });
  }

  /**
   * Hold blobs the lease's operation reads (a base image, a layer exported before) without
   * writing to the database: the hold goes to the lease's hold file. Outside a lease this only
   * reports which are absent.
   */
  async hold(digests: readonly Digest[]): Promise<Digest[]> {
    const paths = digests.map((d) => this.blobPath(d));
    const lease = this.meta ? (this.lease ?? leaseContext.getStore()) : undefined;
    if (lease) {
      try {
        this.holds.add(lease, digests);
      } catch (err) {
        // A pull or load on a full disk first fails here, appending to its hold file.
        throw isDiskFull(err) ? diskFull(this.root, err) : err;
      }
    }
    // Checked after the hold is written, under the lock GC sweeps under: GC either read the holds
    // after ours was written (and keeps the blobs), or finished before this check.
    const absent = () => digests.filter((_, i) => !statSync(paths[i], { throwIfNoEntry: false })?.isFile());
    return this.meta ? this.meta.transaction(absent) : absent();
  }

  /** Blobs held by operations of live processes: GC keeps them. */
  heldBlobs(): Digest[] {
    return [...this.holds.live()].filter(isDigest);
  }

  /** End the holds of `leaseId` (when its lease ends). */
  releaseHolds(leaseId: string): void {
    this.holds.release(leaseId);
  }

  blobPath(digest: Digest): string {
    parseDigest(digest);
    return join(this.blobsDir, digestAlgorithm(digest), digestHex(digest));
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async openRead(digest: Digest): Promise<Readable> {
    try {
      const fh = await open(this.blobPath(digest), 'r');
      // Reads of 1 MiB, not 64 KiB: a blob is read to be pushed, copied or unpacked whole, and
      // every chunk costs a read and a pass through each stream it flows through (halved the
      // CPU of a 330 MB push).
      return fh.createReadStream({ highWaterMark: READ_CHUNK });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(digest);
      throw err;
    }
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(digest);
      throw err;
    }
    const actual = hashOf(digestAlgorithm(digest), data);
    if (actual !== digest) {
      throw new KilnError(
        'BLOB_CORRUPT',
        `blob ${digest} in ${this.blobsDir} is corrupt: its content hashes to ${actual}`,
        {
          hint: 'run `kiln fsck` to list damaged blobs, delete them and pull or build the image again',
        },
      );
    }
    return data;
  }

  async ingest(source: Readable | AsyncIterable<Uint8Array>, expected: Expected = {}): Promise<BlobInfo> {
    if (expected.digest !== undefined) parseDigest(expected.digest);
    const algorithm = expected.digest ? digestAlgorithm(expected.digest) : 'sha256';
    const what = expected.digest ?? 'blob';
    const tmp = join(this.ingestDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
    let fh: FileHandle;
    try {
      await mkdir(this.ingestDir, { recursive: true });
      if (expected.size !== undefined) await checkRoom(this.ingestDir, expected.size);
      fh = await open(tmp, 'wx', 0o644);
    } catch (err) {
      throw isDiskFull(err) ? diskFull(this.root, err, expected.size) : err;
    }
    // A DigestStream hands on exactly the chunks it hashed: read straight from one (a layer being
    // written), its digest is the blob's, and hashing the bytes again here cost ~0.7 ms a MB.
    const hashed = source instanceof DigestStream && source.algorithm === algorithm ? source : undefined;
    const digester = hashed ? undefined : new Digester(algorithm);
    let size = 0;
    let closed = false;
    try {
      // Chunks are gathered into one writev of about WRITE_BATCH bytes: sources such as the
      // layer writer emit many small pieces, and each write is a thread-pool round trip. One
      // batch is written while the next is read and hashed (at most two batches held): waiting
      // for each write before reading on left a download's socket idle for that write.
      let batch: Uint8Array[] = [];
      let batched = 0;
      let writing: Promise<void> | undefined;
      // The disk is written while the blob still comes, not all at the fsync before it is named:
      // every EARLY_SYNC bytes written, a datasync of what is there starts (not waited for; one
      // at a time in the whole process, earlySyncing). A 171 MB layer's fsync took ~0.5 s after
      // its last byte; now it is the last few megabytes'.
      let unsynced = 0;
      let syncing: Promise<void> | undefined;
      // A writeback error is told to one fsync of a file description only: kept for the end.
      let syncError: unknown;
      const flush = async () => {
        if (writing) await writing;
        writing = undefined;
        if (batched === 0) return;
        const pieces = batch;
        unsynced += batched;
        batch = [];
        batched = 0;
        writing = writeAll(fh, pieces);
        // Seen when awaited; until then a failure must not surface as an unhandled rejection.
        writing.catch(() => {});
        if (unsynced >= EARLY_SYNC && !earlySyncing) {
          unsynced = 0;
          earlySyncing = true;
          syncing = writing
            .then(() => fh.datasync())
            .catch((err) => {
              syncError ??= err;
            })
            .finally(() => {
              earlySyncing = false;
            });
        }
      };
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          digester?.update(buf);
          size += buf.length;
          if (expected.size !== undefined && size > expected.size) {
            throw sizeMismatch(what, expected.size, `more than ${expected.size}`);
          }
          batch.push(buf);
          batched += buf.length;
          if (batched >= WRITE_BATCH) await flush();
        }
        await flush();
        await writing;
        await syncing;
        if (syncError !== undefined) throw syncError;
      } finally {
        // The file is closed (or removed) only after its last write and datasync have settled.
        await writing?.catch(() => {});
        await syncing;
      }
      // Its count tells whether anything else read from it: then its digest is not these bytes'.
      if (hashed && hashed.size !== size)
        throw new KilnError(
          'DIGEST_STREAM_SHARED',
          `a digested stream was read by more than its blob (${hashed.size} ≠ ${size} bytes)`,
        );
      const digest = hashed ? hashed.digest() : (digester as Digester).digest();
      if (expected.size !== undefined && size !== expected.size) {
        throw sizeMismatch(what, expected.size, String(size));
      }
      if (expected.digest !== undefined && expected.digest !== digest) {
        throw digestMismatch(what, expected.digest, digest);
      }
      await fh.sync();
      await fh.close();
      closed = true;
      await this.commit(tmp, digest);
      return { digest, size };
    } catch (err) {
      if (!closed) await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw isDiskFull(err) ? diskFull(this.root, err, expected.size) : err;
    }
  }

  async writeBlob(data: Uint8Array, expected: Expected = {}): Promise<BlobInfo> {
    // A rebuild writes the same configs and manifests again: when the blob is already stored,
    // only claim it for the lease (checked inside the transaction GC sweeps under) and skip the
    // write and its fsync.
    const algorithm = expected.digest ? digestAlgorithm(parseDigest(expected.digest)) : 'sha256';
    const digest = hashOf(algorithm, data);
    if (
      (expected.digest === undefined || expected.digest === digest) &&
      (expected.size ?? data.length) === data.length
    ) {
      if (this.claimExisting(digest, data.length)) return { digest, size: data.length };
    }
    return this.ingest(Readable.from([data]), expected);
  }

  /** True when `digest` is stored with `size` bytes; it is then held by this store's lease. */
  private claimExisting(digest: Digest, size: number): boolean {
    const final = join(this.blobsDir, digestAlgorithm(digest), digestHex(digest));
    const lease = this.meta ? (this.lease ?? leaseContext.getStore()) : undefined;
    const check = () => {
      const st = statSync(final, { throwIfNoEntry: false });
      if (!st || st.size !== size) return false;
      if (lease) this.meta!.addLeaseBlob(lease, digest);
      return true;
    };
    return this.meta ? this.meta.transaction(check) : check();
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const alg of ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(join(this.blobsDir, alg));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      names.sort();
      for (const name of names) {
        const digest = `${alg}:${name}`;
        if (!isDigest(digest)) continue;
        try {
          const st = await stat(join(this.blobsDir, alg, name));
          if (st.isFile()) yield { digest, size: st.size };
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
    }
  }

  /** Files under blobs/ whose names are not digests (temp debris or foreign files). */
  async strayBlobFiles(): Promise<string[]> {
    const out: string[] = [];
    let algs: string[];
    try {
      algs = await readdir(this.blobsDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return out;
      throw err;
    }
    for (const alg of algs) {
      if (!ALGORITHMS.includes(alg as DigestAlgorithm)) {
        out.push(join(this.blobsDir, alg));
        continue;
      }
      for (const name of await readdir(join(this.blobsDir, alg))) {
        if (!isDigest(`${alg}:${name}`)) out.push(join(this.blobsDir, alg, name));
      }
    }
    return out;
  }

  /** Temp files in the ingest directory, with the pid of the process that wrote them when known. */
  async listIngests(): Promise<IngestTemp[]> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: IngestTemp[] = [];
    for (const name of names) {
      const path = join(this.ingestDir, name);
      try {
        const st = await stat(path);
        const m = TEMP_NAME.exec(name);
        out.push({ path, name, pid: m ? Number(m[1]) : undefined, mtimeMs: st.mtimeMs, size: st.size });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return out;
  }

  /**
   * Remove temps nobody is writing: their process is gone, or they are older than `maxAgeMs`
   * (a root shared across pid namespaces makes pids meaningless, so age is the backstop).
   */
  async cleanIngests(opts: { maxAgeMs?: number; now?: number } = {}): Promise<IngestTemp[]> {
    const maxAge = opts.maxAgeMs ?? 24 * 3600_000;
    const now = opts.now ?? Date.now();
    const removed: IngestTemp[] = [];
    for (const t of await this.listIngests()) {
      const stale = t.pid === undefined || !processAlive(t.pid) || now - t.mtimeMs > maxAge;
      if (!stale) continue;
      await rm(t.path, { force: true, recursive: true });
      removed.push(t);
    }
    return removed;
  }

  /** Rename a verified temp into place (replacing an existing copy is harmless: same bytes). */
  private async commit(tmp: string, digest: Digest): Promise<void> {
    const dir = join(this.blobsDir, digestAlgorithm(digest));
    const final = join(dir, digestHex(digest));
    mkdirSync(dir, { recursive: true });
    const lease = this.meta ? (this.lease ?? leaseContext.getStore()) : undefined;
    const doRename = () => {
      renameSync(tmp, final);
      if (lease) this.meta!.addLeaseBlob(lease, digest);
    };
    if (this.meta) this.meta.transaction(doRename);
    else doRename();
    await syncDir(dir);
  }
}

/** Bytes read at once from a blob file (openRead). */
const READ_CHUNK = 1 << 20;

/** Bytes gathered before one writev to an ingest file. */
const WRITE_BATCH = 1 << 20;
/** Bytes written to an ingest file between the datasyncs that start its writeback early. */
const EARLY_SYNC = 16 << 20;
/**
 * An early datasync is running: one at a time over all ingests of the process (so one per file
 * too). Each holds one of the thread pool's four threads for 0.1–0.2 s: a pull's five layers
 * started five, and the writes queued behind them while the sockets waited (332 MB pull:
 * 0.90–0.95× the time with one; two at a time measured the same as one).
 */
let earlySyncing = false;

/** Write every byte of `pieces`, resuming after short writes. */
async function writeAll(fh: FileHandle, pieces: Uint8Array[]): Promise<void> {
  let rest = pieces;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    const next: Uint8Array[] = [];
    for (const piece of rest) {
      if (bytesWritten >= piece.length) bytesWritten -= piece.length;
      else {
        next.push(bytesWritten > 0 ? piece.subarray(bytesWritten) : piece);
        bytesWritten = 0;
      }
    }
    rest = next;
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/**
 * fsync a directory so a rename in it survives a crash. On the thread pool: on the main thread
 * each one held up every other download for a journal commit (~20 ms of a 332 MB pull's main
 * thread).
 */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Directory fsync is best effort (some filesystems refuse it); the rename itself is atomic.
  } finally {
    await fh?.close().catch(() => {});
  }
}

function notFound(digest: Digest): KilnError {
  return new KilnError('BLOB_NOT_FOUND', `blob ${digest} is not in the local content store`, {
    hint: 'pull, load or build the image again to fetch its content',
  });
}

function sizeMismatch(what: string, expected: number, actual: string): KilnError {
  return new KilnError('SIZE_MISMATCH', `${what}: size mismatch: expected ${expected} bytes, got ${actual}`, {
    hint: 'the descriptor and the content disagree; the source is truncated or corrupt',
  });
}

/**
 * ENOSPC before a byte is written when a blob of a known size cannot fit on the filesystem at
 * all: a pull writes its layers side by side, and one filling the disk would make another's
 * small write (a blob, the metadata DB) fail first, reporting DISK_FULL without the size that
 * did not fit (the pull's real need). Root may use the blocks reserved for it (ext4's 5%), so it
 * is measured against the free blocks, anyone else against the available ones. Best effort: a
 * filesystem that cannot say is written to, and a write that finds no room still fails as one.
 */
async function checkRoom(dir: string, size: number): Promise<void> {
  let free: number;
  try {
    const s = await statfs(dir);
    free = (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize;
  } catch {
    return;
  }
  if (size > free) {
    throw Object.assign(new Error(`ENOSPC: ${size} bytes do not fit in the ${free} free on ${dir}`), {
      code: 'ENOSPC',
    });
  }
}
