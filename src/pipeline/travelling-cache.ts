/**
 * The build's side of `--cache-from` / `--cache-to` (`cache/remote/`): what a hit becomes (its
 * layers unpacked into snapshots named by chain id, as base images are, with the history times
 * the record carries), which layers and cache mounts an export is made of, and the progress and
 * warnings of both. Nothing here runs for a build that names no travelling cache.
 */
import { exportMount } from '../cache/remote/mounts.ts';
import { INLINE_ANNOTATION, type RemoteHit, TravellingCache } from '../cache/remote/remote.ts';
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { Annotation } from '../exporter/annotations.ts';
import type { LayerExports } from '../exporter/layers.ts';
import { reachable, type Vertex } from '../graph/vertex.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { Job, ResultCache } from '../solver/solver.ts';
import { layerLimit, loadLimits } from '../store/limits.ts';
import type { Store } from '../store/store.ts';
import { chainIds } from '../worker/chain.ts';
import type { BaseImages, ResolvedImage } from '../worker/images.ts';
import type { BuildState, FsState, LayerRef } from '../worker/state.ts';
import type { BuildOptions } from './options.ts';

export interface TravelDeps {
  store: Store;
  snapshotter: Snapshotter;
  images: BaseImages;
  registry: () => Promise<RegistryClient>;
  progress: ProgressSink;
  /** Collects the build's warnings (returned with its result). */
  warnings: string[];
  /** Set by open(): report a warning (shown, and added to `warnings`). */
  warn?: (message: string) => void;
  platform: Platform;
}

/** The cache mount ids the graphs under `roots` use. */
function cacheMountIds(roots: readonly Vertex[]): string[] {
  const ids = new Set<string>();
  for (const v of reachable(roots))
    if (v.op.type === 'exec') for (const m of v.op.mounts) if (m.type === 'cache') ids.add(m.id || m.target);
  return [...ids].sort();
}

/**
 * A hit taken lazily: the snapshots it names (chain ids, as an unpack would name them) are not
 * made, and nothing reads them: only its layer blobs go to the outputs.
 */
function lazyState(hit: RemoteHit): FsState {
  const ids = chainIds(hit.layers.map((l) => l.diffID as Digest));
  return {
    kind: 'fs',
    layers: hit.layers.map((l, i) => ({
      snapshot: `layer-${ids[i].slice('sha256:'.length)}`,
      layer: {
        digest: l.digest as Digest,
        diffID: l.diffID as Digest,
        size: l.size,
        mediaType: l.mediaType,
        uncompressedSize: l.uncompressedSize,
      },
      created: hit.created[i] ?? undefined,
    })),
  };
}

export class BuildTravel {
  private readonly cache: TravellingCache;
  private readonly deps: TravelDeps;
  private readonly opts: BuildOptions;

  private constructor(cache: TravellingCache, deps: TravelDeps, opts: BuildOptions) {
    this.cache = cache;
    this.deps = deps;
    this.opts = opts;
  }

  /** Undefined when the build names no travelling cache (the common case costs nothing). */
  static async open(opts: BuildOptions, deps: TravelDeps): Promise<BuildTravel | undefined> {
    const from = opts.cacheFrom ?? [];
    const to = opts.cacheTo ?? [];
    if (!from.length && !to.length) return undefined;
    const warn = (message: string) => {
      deps.warnings.push(message);
      deps.progress({ type: 'warning', message, at: Date.now() });
    };
    deps.warn = warn;
    const cache = await TravellingCache.open(from, to, {
      registry: deps.registry,
      content: deps.store.content,
      progress: deps.progress,
      warn,
      platform: deps.platform,
    });
    return new BuildTravel(cache, deps, opts);
  }

  /** The solver's cache: local first, then the imports; every result recorded. */
  wrap(inner: ResultCache<BuildState>): ResultCache<BuildState> {
    return this.cache.wrap(inner, async (hit, key) => {
      if (this.cache.lazyKeys.has(key)) return lazyState(hit);
      const layers: Descriptor[] = hit.layers.map((l) => ({
        mediaType: l.mediaType,
        digest: l.digest as Descriptor['digest'],
        size: l.size,
      }));
      // The same path base layers take: blobs (fetched and verified) → snapshots by chain id.
      const img = {
        ref: 'build cache',
        manifestDescriptor: layers[0],
        manifest: { schemaVersion: 2, config: layers[0], layers },
        config: { rootfs: { type: 'layers', diff_ids: hit.layers.map((l) => l.diffID) } },
      } as unknown as ResolvedImage;
      const state = await this.deps.images.unpack(img, this.deps.snapshotter);
      for (const [i, ref] of state.layers.entries()) {
        ref.created = hit.created[i] ?? undefined;
        if (ref.layer && hit.layers[i].uncompressedSize !== undefined)
          ref.layer.uncompressedSize = hit.layers[i].uncompressedSize;
      }
      return state;
    });
  }

  private warn(message: string): void {
    this.deps.warn?.(message);
  }

  /**
   * The cache key of a platform's final result, before it is solved: when every output only
   * reads its layer blobs (pushes, OCI or docker archives), a hit on it is taken lazily.
   */
  markRoot(key: string): void {
    const blobsOnly = this.opts.outputs.every(
      (o) => o.type === 'registry' || o.type === 'oci' || o.type === 'docker',
    );
    // --squash reads the result's snapshots to make its one layer: those must be there.
    if (blobsOnly && this.opts.outputs.length > 0 && !this.opts.squash) this.cache.lazyKeys.add(key);
  }

  /**
   * After a platform's graph is solved: the cache keys of its steps (the solver has them all,
   * hits included), so an export carries what an import held for steps this build never ran.
   * `finalChain` are the vertex digests the final image's layers come from (mode=min).
   */
  async noteGraph(
    root: Job<BuildState>,
    finalChain: ReadonlySet<string>,
    keyOf: (job: Job<BuildState>) => Promise<string>,
  ): Promise<void> {
    const seen = new Set<string>();
    const stack = [root];
    while (stack.length) {
      const job = stack.pop() as Job<BuildState>;
      if (seen.has(job.digest)) continue;
      seen.add(job.digest);
      stack.push(...job.inputs);
      if (job.noCache) continue;
      const key = await keyOf(job);
      this.cache.graphKeys.add(key);
      if (finalChain.has(job.digest)) this.cache.finalKeys.add(key);
    }
  }

  /** The content store as outputs read it: lazy hits' blobs are fetched on first read. */
  content(base: BlobProvider): BlobProvider {
    return this.cache.content(base);
  }

  /** Before solving: fill the cache mounts the graphs use from the imports. */
  async restoreMounts(roots: readonly Vertex[]): Promise<void> {
    // --no-cache has just emptied them, as BuildKit does: an import must not fill them again.
    if (this.opts.noCache) return;
    const limits = await loadLimits(this.deps.store.root);
    await this.cache.restoreMounts(this.deps.store.root, cacheMountIds(roots), (size) =>
      layerLimit(limits, size),
    );
  }

  /** `--cache-to type=inline`: the manifest annotation each platform's image carries its record in. */
  inlineAnnotations(perPlatform: readonly { platform: Platform; state: FsState }[]): Annotation[] {
    const out: Annotation[] = [];
    if (this.opts.squash && this.opts.cacheTo?.some((s) => s.type === 'inline')) {
      // The record names the image's layers by position; a squashed image has other layers.
      this.warn(
        "--cache-to type=inline is skipped with --squash: the squashed image has none of its steps' layers",
      );
      return out;
    }
    for (const p of perPlatform) {
      const value = this.cache.inlineRecord(p.state);
      if (value === undefined) continue;
      const a: Annotation = { type: 'manifest', key: INLINE_ANNOTATION, value };
      if (perPlatform.length > 1) a.platform = p.platform;
      out.push(a);
    }
    return out;
  }

  /** For pushes: repositories of the same registry an imported cache says hold a blob. */
  readonly mountFrom = (domain: string, digest: string): string[] => this.cache.mountSources(domain, digest);

  /** After the outputs: export to every `--cache-to`. */
  async export(
    finals: readonly FsState[],
    roots: readonly Vertex[],
    layerExports: LayerExports,
  ): Promise<void> {
    const store = this.deps.store;
    await this.cache.export(finals, {
      mountIds: cacheMountIds(roots),
      pushedTo: this.opts.outputs.filter((o) => o.push).flatMap((o) => o.names),
      layerFor: async (ref, compression) => {
        const rec = await layerExports.layer(ref as LayerRef, {
          compression,
          sourceDateEpoch: this.opts.sourceDateEpoch,
        });
        const { created: _c, ...layer } = rec;
        return layer;
      },
      mountLayer: (id, compression) => exportMount(store.root, id, compression, store.content),
    });
  }
}
