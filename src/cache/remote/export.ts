/**
 * Exporting a travelling cache after a build: the results the build produced or hit (cache key
 * → chain of layers), mode=min only those the final image is made of, mode=max all of them,
 * plus (cache-mounts=true) a layer per `RUN --mount=type=cache` directory. They are written as
 * an ordinary OCI artifact: an image manifest whose layers are every layer named, whose config
 * is a valid image config carrying the record in one extra field, so any registry stores it and
 * `skopeo inspect` reads it. Blobs go before the manifest, which goes up last under the tag.
 */
import type { Readable } from 'node:stream';
import type { BlobProvider } from '../../content/content.ts';
import { type Digest, sha256 } from '../../digest/digest.ts';
import { KilnError } from '../../errors/errors.ts';
import { copyImage } from '../../image/copy.ts';
import type { Descriptor } from '../../oci/descriptor.ts';
import type { Manifest } from '../../oci/manifest.ts';
import { type Compression, layerCompression, layerMediaType, MediaType } from '../../oci/mediatypes.ts';
import type { Platform } from '../../oci/platform.ts';
import { errorText, type ProgressSink } from '../../progress/events.ts';
import { ReportedStep } from '../../progress/step.ts';
import { CACHE_ANNOTATION, CACHE_LABEL, type CacheLayer, type CacheRecord, RECORD_FIELD } from './record.ts';
import { type CacheSpec, describeCacheSpec } from './spec.ts';
import { openCacheSink, type WhereDeps } from './where.ts';

/** One layer of a recorded result, as the worker's states hold them. */
export interface ChainRef {
  snapshot: string;
  created?: string;
}

/** An imported result carried forward: its layers as the imported record names them. */
export interface CarriedResult {
  key: string;
  layers: CacheLayer[];
  created: (string | null)[];
}

/** A recorded result: a filesystem made of a chain of snapshots. */
export interface ChainResult {
  kind: 'fs';
  layers: ChainRef[];
}

export interface ExportDeps extends WhereDeps {
  /** The content store the layers are read from once made. */
  content: BlobProvider;
  progress: ProgressSink;
  warn(message: string): void;
  platform: Platform;
  /** Cheap keys → the keys results are stored under (solver ContentInputs), as this build used them. */
  links?: ReadonlyMap<string, string>;
  /** The layer blob of one snapshot of a result, in the content store, in this compression. */
  layerFor(ref: ChainRef, compression: Compression): Promise<CacheLayer>;
  /** The cache mount `id`'s contents as a layer in the content store, or undefined when it has none. */
  mountLayer?(
    id: string,
    compression: Compression,
  ): Promise<(CacheLayer & { dir?: { uid: number; gid: number; mode: number } }) | undefined>;
  /** Cache mount ids the build used. */
  mountIds: readonly string[];
  /** Repositories (`domain/path`) this build pushed to: the cache's blobs may be mounted from them. */
  pushedTo?: readonly string[];
  /** Other repositories of a registry that hold a blob (the imported caches'), to mount from. */
  mountFrom?: (domain: string, digest: string) => string[];
  /**
   * Results of this build's steps that it did not solve (a hit above them made them needless)
   * but an imported cache holds: carried into the export, so a fully cached build does not
   * export less than it imported. By mode.
   */
  carried?: (mode: 'min' | 'max') => CarriedResult[];
}

/** Which recorded results an export with `mode` carries. */
export function selectResults(
  recorded: ReadonlyMap<string, ChainResult>,
  finals: readonly ChainResult[],
  mode: 'min' | 'max',
): [string, ChainResult][] {
  const all = [...recorded.entries()];
  if (mode === 'max') return all;
  // mode=min: a result the final image is made of is a prefix of its chain of snapshots.
  const isPrefix = (r: ChainResult, of: ChainResult) =>
    r.layers.length <= of.layers.length && r.layers.every((l, i) => of.layers[i].snapshot === l.snapshot);
  return all.filter(([, r]) => r.layers.length > 0 && finals.some((f) => isPrefix(r, f)));
}

/** Build the record (layers deduplicated by digest) for the chosen results. */
export async function buildRecord(
  results: [string, ChainResult][],
  spec: CacheSpec,
  deps: ExportDeps,
): Promise<CacheRecord> {
  const record: CacheRecord = { layers: [], results: [], mounts: [] };
  const at = new Map<string, number>();
  const add = (l: CacheLayer): number => {
    let i = at.get(l.digest);
    if (i === undefined) {
      i = record.layers.push(l) - 1;
      at.set(l.digest, i);
    }
    return i;
  };
  // One export per snapshot, shared by every result it appears in.
  const made = new Map<string, Promise<CacheLayer>>();
  const layer = (ref: ChainRef) => {
    let p = made.get(ref.snapshot);
    if (!p) {
      p = deps.layerFor(ref, spec.compression);
      made.set(ref.snapshot, p);
    }
    return p;
  };
  // In order, so the record (and the artifact's digest) is the same for the same build.
  const sorted = [...results].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const chains = await Promise.all(sorted.map(([, r]) => Promise.all(r.layers.map(layer))));
  for (const [i, [key, r]] of sorted.entries()) {
    record.results.push({
      key,
      layers: chains[i].map(add),
      created: r.layers.map((l) => l.created ?? null),
    });
  }
  const have = new Set(sorted.map(([key]) => key));
  for (const c of [...(deps.carried?.(spec.mode) ?? [])].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (have.has(c.key)) continue;
    have.add(c.key);
    record.results.push({ key: c.key, layers: c.layers.map(add), created: c.created });
  }
  // The links whose result travels with the record, in order.
  const links = [...(deps.links ?? [])].filter(([, t]) => have.has(t)).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  if (links.length) record.links = links.map(([key, target]) => ({ key, target }));
  if (spec.cacheMounts && deps.mountLayer) {
    for (const id of [...deps.mountIds].sort()) {
      const made = await deps.mountLayer(id, spec.compression);
      if (!made) continue;
      const { dir, ...l } = made;
      record.mounts.push({ id, layer: add(l), ...dir });
    }
  }
  return record;
}

/** The artifact's config and manifest for a record, as bytes with descriptors. */
export function composeArtifact(
  record: CacheRecord,
  spec: CacheSpec,
  platform: Platform,
): { blobs: Map<Digest, Buffer>; root: Descriptor } {
  const oci = spec.ociMediaTypes;
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    config: { Labels: { [CACHE_LABEL]: '1' } },
    rootfs: { type: 'layers', diff_ids: record.layers.map((l) => l.diffID) },
    [RECORD_FIELD]: record,
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = {
    mediaType: oci ? MediaType.OciConfig : MediaType.DockerConfig,
    digest: sha256(configBytes),
    size: configBytes.length,
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: oci ? MediaType.OciManifest : MediaType.DockerManifest,
    config: configDesc,
    layers: record.layers.map((l) => ({
      mediaType: layerMediaType(layerCompression(l.mediaType), oci),
      digest: l.digest as Digest,
      size: l.size,
    })),
  };
  if (oci) manifest.annotations = { [CACHE_ANNOTATION]: 'v1' };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const blobs = new Map<Digest, Buffer>([[configDesc.digest, configBytes]]);
  let root: Descriptor = {
    mediaType: manifest.mediaType as string,
    digest: sha256(manifestBytes),
    size: manifestBytes.length,
  };
  blobs.set(root.digest, manifestBytes);
  if (!spec.imageManifest) {
    // BuildKit's older layout: an index in front; kiln's index points at the cache manifest.
    const index = {
      schemaVersion: 2,
      mediaType: oci ? MediaType.OciIndex : MediaType.DockerManifestList,
      manifests: [{ ...root, annotations: { [CACHE_ANNOTATION]: 'v1' } }],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    root = { mediaType: index.mediaType, digest: sha256(indexBytes), size: indexBytes.length };
    blobs.set(root.digest, indexBytes);
  }
  return { blobs, root };
}

/** The content store with the artifact's small blobs in front of it. */
function withBlobs(content: BlobProvider, extra: Map<Digest, Buffer>): BlobProvider {
  return {
    info: async (d) => {
      const b = extra.get(d);
      return b ? { digest: d, size: b.length } : content.info(d);
    },
    openRead: async (d): Promise<Readable> => {
      const b = extra.get(d);
      if (!b) return content.openRead(d);
      const { Readable } = await import('node:stream');
      return Readable.from([b]);
    },
    readBlob: async (d) => extra.get(d) ?? content.readBlob(d),
  };
}

/**
 * Export to each `--cache-to`, each its own progress step with the bytes written. A failure
 * fails the build (CACHE_EXPORT_FAILED) unless the spec says ignore-error=true.
 */
export async function exportCaches(
  specs: readonly CacheSpec[],
  recorded: ReadonlyMap<string, ChainResult>,
  finals: readonly ChainResult[],
  deps: ExportDeps,
): Promise<void> {
  for (const spec of specs) {
    if (spec.type === 'inline') continue; // carried by the image itself
    const where = describeCacheSpec(spec);
    const step = new ReportedStep(
      deps.progress,
      `exporting cache to ${spec.type === 'local' ? 'client directory' : 'registry'}`,
      where,
    ).start();
    try {
      const record = await step.task('preparing build cache for export', () =>
        buildRecord(selectResults(recorded, finals, spec.mode), spec, deps),
      );
      const { blobs, root } = composeArtifact(record, spec, deps.platform);
      const { sink, tag } = await openCacheSink(spec, deps, deps.pushedTo, deps.mountFrom);
      const copied = await step.task(`writing cache manifest ${root.digest}`, () =>
        copyImage({ root, blobs: withBlobs(deps.content, blobs) }, sink, { tag }),
      );
      step.note(
        `wrote ${copied.bytes} bytes (${record.results.length} results, ${record.layers.length} layers) to ${where}`,
      );
      step.done();
    } catch (err) {
      const failure = new KilnError(
        'CACHE_EXPORT_FAILED',
        `exporting cache to ${where} failed: ${errorText(err)}`,
        {
          cause: err,
        },
      );
      if (spec.ignoreError) {
        deps.warn(failure.message);
        step.done();
        continue;
      }
      throw step.fail(failure);
    }
  }
}
