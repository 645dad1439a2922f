/**
 * Layers in one pass: entries → tar → sha256 (diffID) → compression → sha256 (digest) → the
 * stream the caller pipes into the content store. Also the reverse listing (`readLayerFiles`)
 * for tests and tools.
 */
import { createHash } from 'node:crypto';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { type Digest, DigestStream } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { layerMediaType } from '../oci/mediatypes.ts';
import * as fs from '../sys/fs.ts';
import { type Compression, compressStream, decompressAuto, normalizeCompression } from './compress.ts';
import { finalizeEntries, type LayerEntry } from './entries.ts';
import { directoryEntries, entriesOf, type LayerEntries } from './tree-entries.ts';

export { diffDirectories } from './diff.ts';
export type { LayerEntry } from './entries.ts';
export { diffOverlayUpper, directoryEntries, type LayerEntries, nonEmpty } from './tree-entries.ts';

import type { BlobSource, LayerIndex } from './layer-index.ts';
import { padding, type TarEntryType } from './tar/header.ts';
import { readTar } from './tar/reader.ts';
import { TarWriter } from './tar/writer.ts';

/** Files below this size are read whole and synchronously (≈10x faster than streams). */
const SMALL_FILE = 1 << 20;

export interface CreateLayerOptions {
  /** Default gzip. 'none' is accepted as an alias of 'uncompressed'. */
  compression?: Compression | 'none';
  /** Compression level (gzip default 6, zstd default 3). */
  level?: number;
  /** SOURCE_DATE_EPOCH in seconds: clamp every mtime to it. */
  sourceDateEpoch?: number;
  /** Entries are already in layer order and hardlinked (tree-entries.ts, diff*); skip re-finalizing. */
  presorted?: boolean;
  /** Files' bytes from an earlier blob, and where this layer's are (layer-index.ts). */
  reuse?: LayerReuse;
}

/**
 * An earlier uncompressed layer blob to take files' bytes from (`from`), and an index to note
 * where this layer's files are (`index`: an uncompressed layer only, its offsets being the blob's).
 */
export interface LayerReuse {
  from?: { index: LayerIndex; blob: BlobSource };
  index?: LayerIndex;
}

export interface LayerInfo {
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
  /** sha256 of the blob as stored (compressed). */
  digest: Digest;
  /** Size of the blob as stored. */
  size: number;
  compression: Compression;
  /** OCI layer media type for this compression. */
  mediaType: string;
}

export interface LayerStream {
  /** The blob's bytes; pipe them to the content store. */
  stream: Readable;
  /** Resolves when `stream` has been read to its end; rejects on any error. */
  info: Promise<LayerInfo>;
}

function tarPath(e: LayerEntry): string {
  return e.header.type === 'directory' ? `${e.header.path}/` : e.header.path;
}

async function writeEntries(
  w: TarWriter,
  entries: LayerEntries,
  epoch: number | undefined,
  reuse: LayerReuse | undefined,
): Promise<void> {
  for await (const chunk of entries) {
    for (const e of chunk) {
      const h = { ...e.header, path: tarPath(e) };
      if (epoch !== undefined && h.mtime > epoch) h.mtime = epoch;
      if (h.type !== 'file' || h.size === 0) {
        await w.add(h, e.data);
      } else if (e.data) {
        await w.add(h, e.data);
      } else if (e.source) {
        const from = reuse?.from;
        const at = e.file && from ? from.index.find(e.file) : undefined;
        const pieces = at !== undefined && h.size >= SMALL_FILE ? from?.blob.pieces(at, h.size) : undefined;
        if (from && at !== undefined && h.size < SMALL_FILE) {
          const source = e.source;
          await w.add(h, (dest) => {
            if (!from.blob.fill(dest, at)) readInto(source)(dest);
          });
        } else if (pieces) {
          await w.add(h, pieces);
        } else if (h.size < SMALL_FILE) {
          await w.add(h, readInto(e.source));
        } else {
          // Read exactly the stat'd size; a file that shrank fails in the writer with TAR_SIZE_MISMATCH.
          await w.add(
            h,
            fs.createReadStream(e.source, { start: 0, end: h.size - 1, highWaterMark: SMALL_FILE }),
          );
        }
      } else {
        throw new KilnError(
          'LAYER_ENTRY_INVALID',
          `layer entry "${h.path}" has size ${h.size} but no content source`,
        );
      }
      // The bytes just added end at the writer's offset, before their padding.
      if (h.type === 'file' && h.size > 0 && e.file && reuse?.index)
        reuse.index.add(e.file, w.offset - padding(h.size) - h.size);
    }
  }
  await w.finish();
}

const probe = Buffer.alloc(1);

const READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
/**
 * Reading a file a copy has just written (atime set back to its source's) would update its
 * atime, dirtying every inode of the layer (~1.5 µs a file here, and journal writes after); a layer's
 * bytes do not depend on it. Allowed to the owner or CAP_FOWNER: anything else (a file of an
 * unmapped owner in rootless kiln) is opened as before.
 */
const READ_NOATIME = READ | fs.constants.O_NOATIME;

function openForRead(file: string): number {
  try {
    return fs.openSync(file, READ_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return fs.openSync(file, READ);
  }
}

/** Read a small file straight into the tar writer's buffer; it must have exactly that many bytes. */
function readInto(file: string): (dest: Buffer) => void {
  return (dest) => {
    let fd: number;
    try {
      fd = openForRead(file);
    } catch (cause) {
      throw changedWhileReading(file, dest.length, -1, cause);
    }
    try {
      let got = 0;
      for (let n = 1; n > 0 && got < dest.length; got += n)
        n = fs.readSync(fd, dest, got, dest.length - got, null);
      // One byte more tells a file that grew from one that is whole.
      if (got === dest.length && fs.readSync(fd, probe, 0, 1, null) > 0) got++;
      if (got !== dest.length) throw changedWhileReading(file, dest.length, got);
    } finally {
      fs.closeSync(fd);
    }
  };
}

function changedWhileReading(file: string, expected: number, got: number, cause?: unknown): KilnError {
  const what = got < 0 ? 'could not be read' : `changed size (${expected} → ${got} bytes)`;
  return new KilnError('LAYER_SOURCE_CHANGED', `${file} ${what} while the layer was written`, {
    hint: 'nothing may write to a snapshot while its layer is being created',
    cause,
  });
}

/**
 * Start writing a layer. Nothing is buffered beyond stream high-water marks (and, for entries
 * that come as a stream, what its maker holds): the work runs as fast as the consumer of
 * `stream` reads. Output is deterministic for the same entries. A list not `presorted` is put in
 * layer order first.
 */
export function createLayer(
  entries: LayerEntries | LayerEntry[],
  options: CreateLayerOptions = {},
): LayerStream {
  const compression = normalizeCompression(options.compression ?? 'gzip');
  // A stream of entries is in layer order by what makes one (tree-entries.ts).
  const list = Array.isArray(entries)
    ? entriesOf(options.presorted ? entries : finalizeEntries([...entries]))
    : entries;
  const writer = new TarWriter();
  const tarDigest = new DigestStream();
  // An uncompressed blob is the tar itself: hashing it twice would only cost time.
  const blobDigest = compression === 'uncompressed' ? tarDigest : new DigestStream();
  const out =
    compression === 'uncompressed'
      ? pipeline(writer, tarDigest, () => {})
      : pipeline(
          writer,
          tarDigest,
          compressStream(compression, { level: options.level }),
          blobDigest,
          () => {},
        );
  const info = new Promise<LayerInfo>((resolve, reject) => {
    out.on('error', reject);
    out.on('end', () =>
      resolve({
        diffID: tarDigest.digest(),
        uncompressedSize: tarDigest.size,
        digest: blobDigest.digest(),
        size: blobDigest.size,
        compression,
        mediaType: layerMediaType(compression, true),
      }),
    );
    // Destroyed by its consumer without an error: settle anyway (a no-op after 'end').
    out.on('close', () =>
      reject(
        new KilnError('LAYER_ABORTED', 'the layer stream was closed before it was read to the end', {
          cause: out.errored ?? undefined,
        }),
      ),
    );
  });
  info.catch(() => {}); // the caller sees the error through `info` or the stream
  writeEntries(writer, list, options.sourceDateEpoch, options.reuse).catch((err) => {
    if (!writer.destroyed) writer.destroy(err);
  });
  return { stream: out as Readable, info };
}

/**
 * A whole directory tree (its contents, not the directory itself) as a tar stream, by default
 * uncompressed — for `--output type=tar` and round-trip tests. Same layout as a layer.
 */
export function tarDirectory(dir: string, options: CreateLayerOptions = {}): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  directoryEntries(dir)
    .then((entries) => {
      const layer = createLayer(entries, { compression: 'uncompressed', ...options, presorted: true });
      layer.stream.on('error', (err) => out.destroy(err));
      layer.stream.pipe(out);
    })
    .catch((err) => out.destroy(err));
  return out;
}

export interface LayerFile {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
  /** sha256 of the content (regular files only). */
  digest?: Digest;
}

/** List a layer blob (any compression) entry by entry, hashing file contents as it goes. */
export async function readLayerFiles(source: Readable | AsyncIterable<Uint8Array>): Promise<LayerFile[]> {
  const { stream } = await decompressAuto(source);
  const files: LayerFile[] = [];
  for await (const e of readTar(stream)) {
    let digest: Digest | undefined;
    if (e.type === 'file') {
      const h = createHash('sha256');
      for await (const chunk of e.body()) h.update(chunk);
      digest = `sha256:${h.digest('hex')}`;
    }
    files.push({
      path: e.path.replace(/^\.\//, '').replace(/\/+$/, ''),
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.size,
      mtime: e.mtime,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      xattrs: e.xattrs,
      digest,
    });
  }
  return files;
}
