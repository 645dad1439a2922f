/**
 * Layer blobs for a build result: each snapshot's changes against its parent, tarred,
 * compressed and hashed in one pass straight into the content store. A layer exported before
 * (same snapshot, same compression, blob still present) is reused.
 */

import { createLayer } from '../archive/layer.ts';
import type { BuildCache, LayerRecord } from '../cache/build-cache.ts';
import type { BlobProvider, Ingester } from '../content/content.ts';
import type { Compression } from '../oci/mediatypes.ts';
import type { ProgressSink } from '../progress/events.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { Semaphore } from '../solver/semaphore.ts';
import type { FsState } from '../worker/state.ts';

export interface LayerExportDeps {
  snapshotter: Snapshotter;
  content: Ingester & BlobProvider;
  cache: BuildCache;
  progress: ProgressSink;
}

export interface LayerExportOptions {
  compression: Compression;
  sourceDateEpoch?: number;
  /** Layers compressed at once (default 2: compression is CPU-bound). */
  concurrency?: number;
}

export async function exportLayers(
  deps: LayerExportDeps,
  state: FsState,
  opts: LayerExportOptions,
): Promise<LayerRecord[]> {
  const limit = new Semaphore(opts.concurrency ?? 2);
  // Reproducible builds key the cache by epoch too: clamped mtimes change the bytes.
  const cacheKey =
    opts.sourceDateEpoch === undefined ? opts.compression : `${opts.compression}@${opts.sourceDateEpoch}`;
  return Promise.all(
    state.layers.map(async (ref) => {
      if (ref.layer) return { ...ref.layer, created: ref.created };
      const known = deps.cache.getLayer(ref.snapshot, cacheKey);
      if (known && (await deps.content.info(known.digest))) return { ...known, created: ref.created };
      return limit.use(async () => {
        const started = Date.now();
        const entries = await deps.snapshotter.diff(ref.snapshot);
        const layer = createLayer(entries, {
          compression: opts.compression,
          sourceDateEpoch: opts.sourceDateEpoch,
          presorted: true,
        });
        const stored = deps.content.ingest(layer.stream);
        const [info] = await Promise.all([layer.info, stored]);
        const rec: LayerRecord = {
          digest: info.digest,
          diffID: info.diffID,
          size: info.size,
          mediaType: info.mediaType,
          uncompressedSize: info.uncompressedSize,
        };
        deps.cache.putLayer(ref.snapshot, cacheKey, rec);
        rec.created = ref.created;
        deps.progress({
          type: 'status',
          id: `export-${ref.snapshot}`,
          name: `exporting layer ${info.digest.slice(0, 19)} (${info.size} bytes) in ${Date.now() - started} ms`,
          current: info.size,
          total: info.size,
          done: true,
          at: Date.now(),
        });
        return rec;
      });
    }),
  );
}
