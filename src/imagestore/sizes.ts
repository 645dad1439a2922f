/**
 * Image sizes as docker reports them: the sum of the layers' uncompressed sizes. Built images
 * keep uncompressed layers (the blob size is the answer); a pulled or loaded layer is gzip or
 * zstd, so it is decompressed once, counting bytes as they stream, and the result is recorded in
 * meta.db (`layer_sizes`, by blob digest), so listing images never decompresses a layer twice.
 */
import type { DatabaseSync } from 'node:sqlite';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressStream } from '../archive/compress.ts';
import type { LocalContentStore } from '../content/local/local.ts';
import type { MetaDB } from '../content/local/meta.ts';
import type { Digest } from '../digest/digest.ts';
import { isDiskFull } from '../errors/errors.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { isLayerType, layerCompression } from '../oci/mediatypes.ts';
import { execRetrying } from '../sys/sqlite.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS layer_sizes (digest TEXT PRIMARY KEY, size INTEGER NOT NULL)';

/**
 * Deflate cannot expand more than ~1032:1, so a gzip layer is bounded by its own size; zstd can
 * (a hostile layer of a few kB may claim terabytes). Measuring stops at this ratio, so time spent
 * on a layer is bounded by its compressed size, and such a layer counts as this much.
 */
const MAX_RATIO = 1100;

export class LayerSizes {
  private readonly content: LocalContentStore;
  private readonly meta: MetaDB;
  private db?: DatabaseSync;
  private readonly pending = new Map<Digest, Promise<number>>();
  private readonly maxRatio: number;

  constructor(content: LocalContentStore, meta: MetaDB, opts: { maxRatio?: number } = {}) {
    this.content = content;
    this.meta = meta;
    this.maxRatio = opts.maxRatio ?? MAX_RATIO;
  }

  /** The uncompressed size of a layer; 0 when its blob is not stored (nothing of it is here). */
  async layer(desc: Descriptor): Promise<number> {
    const compression = isLayerType(desc.mediaType) ? layerCompression(desc.mediaType) : 'uncompressed';
    if (compression === 'uncompressed') return (await this.content.info(desc.digest)) ? desc.size : 0;
    let p = this.pending.get(desc.digest);
    if (!p) {
      p = this.measure(desc, compression);
      this.pending.set(desc.digest, p);
    }
    return p;
  }

  /** Sum of the uncompressed sizes of `layers`, each distinct blob once. */
  async total(layers: Descriptor[]): Promise<number> {
    const seen = new Set<Digest>();
    let n = 0;
    for (const l of layers) {
      if (seen.has(l.digest)) continue;
      seen.add(l.digest);
      n += await this.layer(l);
    }
    return n;
  }

  /**
   * The table of recorded sizes; undefined on a full disk, where sizes are measured but not
   * recorded (listing images must work there: it is how a user finds what to prune).
   */
  private table(): DatabaseSync | undefined {
    if (!this.db) {
      try {
        execRetrying(this.meta.db, SCHEMA, 10_000);
      } catch (err) {
        if (isDiskFull(err)) return undefined;
        throw err;
      }
      this.db = this.meta.db;
    }
    return this.db;
  }

  private async measure(desc: Descriptor, compression: 'gzip' | 'zstd'): Promise<number> {
    const digest = desc.digest;
    const row = this.table()?.prepare('SELECT size FROM layer_sizes WHERE digest = ?').get(digest) as
      | { size: number }
      | undefined;
    if (row) return Number(row.size);
    if (!(await this.content.info(digest))) return 0;
    const cap = Math.max(desc.size, 1 << 20) * this.maxRatio;
    let size = 0;
    const capped = new Error('capped');
    try {
      // Streamed and only counted: memory stays flat whatever the layer expands to.
      await pipeline(
        await this.content.openRead(digest),
        decompressStream(compression),
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            cb(size > cap ? capped : undefined);
          },
        }),
      );
    } catch (err) {
      // A damaged blob is fsck's to report; its size is unknown, and not recorded.
      if (err !== capped) return 0;
      size = cap;
    }
    try {
      this.table()
        ?.prepare('INSERT OR REPLACE INTO layer_sizes (digest, size) VALUES (?, ?)')
        .run(digest, size);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
    return size;
  }
}
