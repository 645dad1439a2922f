/**
 * `kiln build --squash`, as buildah's: the layers a build adds on top of its base image become
 * one layer, the base image's layers stay as they are. The squashed layer is the difference
 * between the base's root filesystem and the result's (so a file a later step deleted is simply
 * absent, and one the base had is a whiteout), and the history keeps an entry per step: the
 * squashed steps' entries become `empty_layer`, the last one carries the layer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildCache, LayerRecord } from '../cache/build-cache.ts';
import type { BlobHolder, Ingester } from '../content/content.ts';
import { KilnError } from '../errors/errors.ts';
import type { HistoryEntry, ImageConfig } from '../oci/config.ts';
import type { Compression } from '../oci/mediatypes.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { withStatePath } from '../worker/mounted.ts';
import type { FsState } from '../worker/state.ts';

export interface SquashDeps {
  snapshotter: Snapshotter;
  content: Ingester & BlobHolder;
  cache: BuildCache;
}

export interface SquashFormat {
  compression: Compression;
  sourceDateEpoch?: number;
}

/** How many of the state's layers are the base image's: the config's diffIDs before the build's. */
export function baseLayerCount(state: FsState, config: ImageConfig): number {
  const ids = config.rootfs?.diff_ids ?? [];
  const n = Math.min(ids.length, state.layers.length);
  for (let i = 0; i < n; i++) {
    const known = state.layers[i].layer?.diffID;
    if (known && known !== ids[i]) {
      throw new KilnError(
        'SQUASH_FAILED',
        `layer ${i + 1} of the result is not the base image's (${known} ≠ ${ids[i]})`,
        {
          hint: 'build without --squash; this is a bug worth reporting',
        },
      );
    }
  }
  return n;
}

/**
 * The history with one layer-carrying entry for the squashed layer: the base's first `base`
 * layer entries stay; of the build's, only the last keeps its layer, the others are marked
 * `empty_layer` (their commands are still listed, as buildah lists them).
 */
export function squashHistory(history: readonly HistoryEntry[], base: number): HistoryEntry[] {
  const out = history.map((h) => ({ ...h }));
  let seen = 0;
  let last = -1;
  for (let i = 0; i < out.length; i++) {
    if (out[i].empty_layer) continue;
    if (seen++ >= base) last = i;
  }
  seen = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i].empty_layer) continue;
    if (seen++ >= base && i !== last) out[i].empty_layer = true;
  }
  return out;
}

/**
 * The layers of `state` with everything above the base as one layer, and the config whose
 * history says so. With one layer or none above the base there is nothing to squash: the state
 * and config come back as they are (`layers` undefined: export them as usual).
 */
export async function squash(
  state: FsState,
  config: ImageConfig,
  deps: SquashDeps,
  format: SquashFormat,
): Promise<{ state: FsState; config: ImageConfig; squashed?: LayerRecord }> {
  const base = baseLayerCount(state, config);
  if (state.layers.length - base <= 1) return { state, config };
  const below: FsState = { kind: 'fs', layers: state.layers.slice(0, base) };
  const topRef = state.layers[state.layers.length - 1];
  const layer = await squashedLayer(below, state, deps, format);
  return {
    state: {
      kind: 'fs',
      layers: [...below.layers, { snapshot: topRef.snapshot, layer, created: topRef.created }],
    },
    config: { ...config, history: squashHistory(config.history ?? [], base) },
    squashed: layer,
  };
}

/** The diff of the whole result against its base, as one layer in the content store (kept per snapshot pair). */
async function squashedLayer(
  below: FsState,
  result: FsState,
  deps: SquashDeps,
  format: SquashFormat,
): Promise<LayerRecord> {
  const top = result.layers[result.layers.length - 1].snapshot;
  const baseTop = below.layers.at(-1)?.snapshot ?? 'scratch';
  const epoch = format.sourceDateEpoch === undefined ? '' : `@${format.sourceDateEpoch}`;
  // One row per (result, base) pair in the layer cache: removed with the result's snapshot.
  const key = `squash:${baseTop}/${format.compression}${epoch}`;
  const known = deps.cache.getLayer(top, key);
  if (known && (await deps.content.hold([known.digest])).length === 0) return known;
  const { createLayer, diffDirectories } = await import('../archive/layer.ts');
  // The entries read their files from the mounts: the layer is written before they go.
  const made = await withLower(deps.snapshotter, below, (lower) =>
    withStatePath(deps.snapshotter, result, async (upper) => {
      const entries = await diffDirectories(lower, upper, { sourceDateEpoch: format.sourceDateEpoch });
      const layer = createLayer(entries, { compression: format.compression, presorted: true });
      const [info, kept] = await Promise.allSettled([layer.info, deps.content.ingest(layer.stream)]);
      if (kept.status === 'rejected') throw kept.reason;
      if (info.status === 'rejected') throw info.reason;
      return info.value;
    }),
  );
  const { digest, diffID, size, mediaType, uncompressedSize } = made;
  const rec: LayerRecord = { digest, diffID, size, mediaType, uncompressedSize };
  deps.cache.putLayer(top, key, rec);
  return rec;
}

/** The base's root filesystem, or an empty directory for a build FROM scratch. */
async function withLower<T>(sn: Snapshotter, below: FsState, fn: (dir: string) => Promise<T>): Promise<T> {
  if (below.layers.length > 0) return withStatePath(sn, below, fn);
  const empty = await mkdtemp(join(tmpdir(), 'kiln-squash-'));
  try {
    return await fn(empty);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}
