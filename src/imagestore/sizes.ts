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
import type { Digest } from '../digest/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { isLayerType, layerCompression } from '../oci/mediatypes.ts';
import type { MetaDB } from '../store/meta.ts';
import { execRetrying } from '../store/sqlite.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS layer_sizes (digest TEXT PRIMARY KEY, size INTEGER NOT NULL)';

export class LayerSizes {
  private readonly content: LocalContentStore;
  private readonly meta: MetaDB;
  private db?: DatabaseSync;
  private readonly pending = new Map<Digest, Promise<number>>();

  constructor(content: LocalContentStore, meta: MetaDB) {
    this.content = content;
    this.meta = meta;
  }

  /** The uncompressed size of a layer; 0 when its blob is not stored (nothing of it is here). */
  async layer(desc: Descriptor): Promise<number> {
    const compression = isLayerType(desc.mediaType) ? layerCompression(desc.mediaType) : 'uncompressed';
    if (compression === 'uncompressed') return (await this.content.info(desc.digest)) ? desc.size : 0;
    let p = this.pending.get(desc.digest);
    if (!p) {
      p = this.measure(desc.digest, compression);
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

  private table(): DatabaseSync {
    if (!this.db) {
      this.db = this.meta.db;
      execRetrying(this.db, SCHEMA, 10_000);
    }
    return this.db;
  }

  private async measure(digest: Digest, compression: 'gzip' | 'zstd'): Promise<number> {
    const row = this.table().prepare('SELECT size FROM layer_sizes WHERE digest = ?').get(digest) as
      | { size: number }
      | undefined;
    if (row) return Number(row.size);
    if (!(await this.content.info(digest))) return 0;
    let size = 0;
    try {
      // Streamed and only counted: memory stays flat whatever the layer expands to.
      await pipeline(
        await this.content.openRead(digest),
        decompressStream(compression),
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            cb();
          },
        }),
      );
    } catch {
      // A damaged blob is fsck's to report; its size is unknown, and not recorded.
      return 0;
    }
    this.table().prepare('INSERT OR REPLACE INTO layer_sizes (digest, size) VALUES (?, ?)').run(digest, size);
    return size;
  }
}
