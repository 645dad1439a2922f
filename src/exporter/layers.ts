/**
 * Layer blobs for a build result: each snapshot's changes against its parent, tarred,
 * compressed and hashed in one pass straight into the content store. A layer exported before
 * (same snapshot, same compression, blob still present) is reused, held for the build.
 */

import type { Readable } from 'node:stream';
import type { LayerInfo, LayerReuse } from '../archive/layer.ts';
import type { BuildCache, LayerRecord } from '../cache/build-cache.ts';
import type { BlobHolder, Ingester } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { Compression } from '../oci/mediatypes.ts';
import type { ProgressSink } from '../progress/events.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { releaseDeadHeap } from '../sys/gc.ts';
import { Semaphore } from '../sys/limit.ts';
import { DONOR_LABEL, STEP_LABEL } from '../worker/reuse.ts';
import type { FsState, LayerRef } from '../worker/state.ts';

export interface LayerExportDeps {
  snapshotter: Snapshotter;
  /** `blobPath`: where a present blob is (the local store), for reading an earlier layer's bytes. */
  content: Ingester & BlobHolder & { blobPath?(digest: Digest): string };
  cache: BuildCache;
  progress: ProgressSink;
}

export interface LayerExportOptions {
  compression: Compression;
  sourceDateEpoch?: number;
}

/**
 * The layer exports of one build, shared: a layer is exported once per format even when asked
 * for early (as soon as its step commits, while later steps still run) and again at the end,
 * and at most `concurrency` layers are written at once (default 2: compression is CPU-bound).
 */
export class LayerExports {
  private readonly inflight = new Map<string, Promise<LayerRecord>>();
  private readonly limit: Semaphore;
  private readonly deps: LayerExportDeps;
  /** The layer streams being written now, for `abandon`. */
  private readonly writing = new Set<Readable>();
  private abandoned: Error | undefined;

  constructor(deps: LayerExportDeps, concurrency = 2) {
    this.deps = deps;
    this.limit = new Semaphore(concurrency);
  }

  /** Every layer of `state`, bottom first. */
  all(state: FsState, opts: LayerExportOptions): Promise<LayerRecord[]> {
    return Promise.all(state.layers.map((ref) => this.layer(ref, opts)));
  }

  /** Start exporting `ref` in the background; the result is picked up by a later `all`. */
  prefetch(ref: LayerRef, opts: LayerExportOptions): void {
    this.layer(ref, opts).catch(() => {}); // the later `all` reports a failure
  }

  /**
   * The build failed: cut the exports still writing and wait until every export has settled, so
   * that each has removed its half-written blob before kiln reports the failure and exits.
   */
  async abandon(reason: Error): Promise<void> {
    this.abandoned = reason;
    for (const stream of this.writing) stream.destroy(reason);
    await this.settled();
  }

  /** Wait until every export started has ended (one started early for a result not used too). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.inflight.values());
  }

  layer(ref: LayerRef, opts: LayerExportOptions): Promise<LayerRecord> {
    if (ref.layer) return Promise.resolve({ ...ref.layer, created: ref.created });
    // Reproducible builds key the cache by epoch too: clamped mtimes change the bytes.
    const cacheKey =
      opts.sourceDateEpoch === undefined ? opts.compression : `${opts.compression}@${opts.sourceDateEpoch}`;
    const id = `${ref.snapshot}/${cacheKey}`;
    let p = this.inflight.get(id);
    if (!p) {
      p = this.export(ref.snapshot, cacheKey, opts);
      this.inflight.set(id, p);
    }
    return p.then((rec) => ({ ...rec, created: ref.created }));
  }

  private async export(snapshot: string, cacheKey: string, opts: LayerExportOptions): Promise<LayerRecord> {
    const deps = this.deps;
    const known = deps.cache.getLayer(snapshot, cacheKey);
    if (known && (await deps.content.hold([known.digest])).length === 0) return known;
    return this.limit.use(async () => {
      const started = Date.now();
      const entries = await deps.snapshotter.diff(snapshot);
      const { createLayer } = await import('../archive/layer.ts');
      const reuse = await this.reuseFor(snapshot, cacheKey, opts.compression);
      let made: PromiseSettledResult<LayerInfo>;
      let kept: PromiseSettledResult<unknown>;
      try {
        if (this.abandoned) throw this.abandoned;
        const layer = createLayer(entries, {
          compression: opts.compression,
          sourceDateEpoch: opts.sourceDateEpoch,
          presorted: true,
          reuse,
        });
        this.writing.add(layer.stream);
        const stored = deps.content.ingest(layer.stream);
        // When the store fails (a full disk), the layer stream only learns it was cut off (an
        // AbortError, "The operation was aborted"): report the store's error, the cause.
        [made, kept] = await Promise.allSettled([layer.info, stored]);
        this.writing.delete(layer.stream);
      } finally {
        reuse?.from?.blob.close();
      }
      const taken = reuse?.from?.blob.taken ?? 0;
      if (kept.status === 'rejected') throw kept.reason;
      if (made.status === 'rejected') throw made.reason;
      const info = made.value;
      const rec: LayerRecord = {
        digest: info.digest,
        diffID: info.diffID,
        size: info.size,
        mediaType: info.mediaType,
        uncompressedSize: info.uncompressedSize,
      };
      deps.cache.putLayer(snapshot, cacheKey, rec);
      if (reuse?.index) deps.cache.putMembers(snapshot, cacheKey, reuse.index.bytes());
      // The diff's entries (one row per file in the layer) are dead now.
      releaseDeadHeap();
      deps.progress({
        type: 'status',
        id: `export-${snapshot}`,
        name: `exporting layer ${info.digest.slice(0, 19)} (${info.size} bytes) in ${Date.now() - started} ms${
          taken ? `, ${taken} files' bytes from the previous result's layer` : ''
        }`,
        current: info.size,
        total: info.size,
        done: true,
        at: Date.now(),
      });
      return rec;
    });
  }

  /**
   * For the layer of a COPY that may link files from its previous result (reuse.ts): when it did
   * (DONOR_LABEL), that result's uncompressed blob and where it holds each file, to take the linked
   * files' bytes from (one read per MiB, not an open, a read and a close per file), and an index of
   * this layer's own files when it is uncompressed too. Any other layer: nothing.
   */
  private async reuseFor(
    snapshot: string,
    cacheKey: string,
    compression: Compression,
  ): Promise<LayerReuse | undefined> {
    const deps = this.deps;
    const info = await deps.snapshotter.stat(snapshot).catch(() => undefined);
    if (!info?.labels[STEP_LABEL]) return undefined;
    const { LayerIndex, BlobSource } = await import('../archive/layer-index.ts');
    const reuse: LayerReuse = compression === 'uncompressed' ? { index: new LayerIndex() } : {};
    const blobPath = deps.content.blobPath?.bind(deps.content);
    const donor = info.labels[DONOR_LABEL];
    if (!blobPath || !donor) return reuse;
    // The previous layer as an uncompressed blob, with the same clamped mtimes or none.
    const at = cacheKey.indexOf('@');
    const key = at < 0 ? 'uncompressed' : `uncompressed${cacheKey.slice(at)}`;
    const rec = deps.cache.getLayer(donor, key);
    const members = rec && deps.cache.getMembers(donor, key);
    if (!rec || !members || (await deps.content.hold([rec.digest])).length > 0) return reuse;
    try {
      reuse.from = { index: LayerIndex.from(members), blob: new BlobSource(blobPath(rec.digest)) };
    } catch {
      // Gone meanwhile: every file is read from the snapshot.
    }
    return reuse;
  }
}
