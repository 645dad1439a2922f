/**
 * Assembling an image from a build result: the layers (as exported by layers.ts), the config the
 * frontend computed, and the manifest — OCI or Docker media types, with any annotations asked
 * for — written to the content store; several platforms become one index (manifest list).
 */
import type { LayerRecord } from '../cache/build-cache.ts';
import type { BlobHolder, BlobInfo, Ingester } from '../content/content.ts';
import { type Digest, sha256 } from '../digest/digest.ts';
import type { HistoryEntry, ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Index, Manifest } from '../oci/manifest.ts';
import { layerCompression, MediaType } from '../oci/mediatypes.ts';
import { normalizePlatform, type Platform } from '../oci/platform.ts';
import { isoSeconds } from '../sys/time.ts';
import { annotationsField, type ManifestAnnotations } from './annotations.ts';

/** What writing an image's small blobs needs of a content store. */
export type BlobWriter = Pick<Ingester, 'writeBlob'>;

/**
 * The config, manifests and index of an image, composed in memory: the caller learns the
 * image's digest before anything is written, and the store gets only the blobs it lacks (a
 * fully cached build then writes nothing).
 */
export class ComposedBlobs implements BlobWriter {
  private readonly blobs = new Map<Digest, Uint8Array>();

  async writeBlob(data: Uint8Array): Promise<BlobInfo> {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return { digest, size: data.length };
  }

  /** Hold every blob in `content` for the running operation, writing those it lacks. */
  async storeIn(content: BlobWriter & BlobHolder): Promise<void> {
    const absent = new Set(await content.hold([...this.blobs.keys()]));
    for (const [digest, data] of this.blobs) {
      if (absent.has(digest)) await content.writeBlob(data, { digest, size: data.length });
    }
  }
}

export interface ImageParts {
  config: ImageConfig;
  /** Every layer of the result, bottom first. */
  layers: LayerRecord[];
  platform: Platform;
}

export interface ExportFormat {
  oci: boolean;
  /** Fixed `created` timestamps (SOURCE_DATE_EPOCH, seconds). */
  sourceDateEpoch?: number;
  /**
   * Annotations of the manifest (or index) written and of the descriptor returned for it
   * (`--annotation`, `annotation*.KEY=` output keys).
   */
  annotations?: ManifestAnnotations;
}

/** The media type a layer has in the chosen flavour (gzip bytes are the same in both). */
export function layerTypeFor(rec: LayerRecord, oci: boolean): string {
  const c = layerCompression(rec.mediaType);
  if (c === 'zstd') return MediaType.OciLayerZstd;
  if (oci) return c === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer;
  return c === 'gzip' ? MediaType.DockerLayerGzip : 'application/vnd.docker.image.rootfs.diff.tar';
}

/**
 * Match layers to the history entries that claim one, from the end backwards (base images'
 * early history may be incomplete): a new entry takes its layer's creation time. Entries still without a time are filled as BuildKit
 * does (below), from layer times only, so a fully cached rebuild yields the same image ID.
 */
export function alignHistory(
  history: HistoryEntry[],
  layers: LayerRecord[],
  fallback: string,
): HistoryEntry[] {
  const out = history.map((h) => ({ ...h }));
  let h = out.length - 1;
  for (let l = layers.length - 1; l >= 0 && h >= 0; l--) {
    while (h >= 0 && out[h].empty_layer) h--;
    if (h < 0) break;
    if (!out[h].created && layers[l].created) out[h].created = isoSeconds(Date.parse(layers[l].created!));
    h--;
  }
  // As BuildKit's exporter: untimed entries before the first new layer take that layer's time
  // (not the base image's, which dated a leading LABEL/ENV years back); later ones take the
  // previous entry's. Without any time after an untimed entry, the last known time is used.
  let created: string | undefined;
  let untimed = false;
  for (const e of out) {
    if (e.created) {
      created = e.created;
      if (untimed) break;
    } else untimed = true;
  }
  untimed = false;
  for (const e of out) {
    if (e.created) {
      if (untimed) created = e.created;
    } else {
      untimed = true;
      e.created = created ?? fallback;
    }
  }
  return out;
}

function exportTime(format: ExportFormat): string {
  return isoSeconds(format.sourceDateEpoch !== undefined ? format.sourceDateEpoch * 1000 : Date.now());
}

/** The manifest written, and the config digest (docker's image ID). */
export interface WrittenImage {
  manifest: Descriptor;
  configDigest: Digest;
}

/**
 * Every step that makes a layer keeps it, even when nothing changed: `docker build` (Docker
 * Engine's exporter) does so, and it is the reference kiln's images are compared with.
 */
export async function writeImage(
  content: BlobWriter,
  parts: ImageParts,
  format: ExportFormat,
): Promise<WrittenImage> {
  const now = exportTime(format);
  let history = alignHistory(parts.config.history ?? [], parts.layers, now);
  if (format.sourceDateEpoch !== undefined) {
    // SOURCE_DATE_EPOCH clamps every time that is later than it.
    history = history.map((e) => (e.created && e.created > now ? { ...e, created: now } : e));
  }
  const created = history.at(-1)?.created ?? now;
  const p = normalizePlatform(parts.platform);
  const config: ImageConfig = {
    ...parts.config,
    created,
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    rootfs: { type: 'layers', diff_ids: parts.layers.map((l) => l.diffID as Digest) },
    history,
  };
  if (!p.variant) delete config.variant;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configInfo = await content.writeBlob(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: format.oci ? MediaType.OciManifest : MediaType.DockerManifest,
    config: {
      mediaType: format.oci ? MediaType.OciConfig : MediaType.DockerConfig,
      digest: configInfo.digest,
      size: configInfo.size,
    },
    layers: parts.layers.map((l) => ({
      mediaType: layerTypeFor(l, format.oci),
      digest: l.digest,
      size: l.size,
    })),
    ...annotationsField(format.annotations?.manifest ?? {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const info = await content.writeBlob(bytes);
  return {
    manifest: {
      mediaType: manifest.mediaType!,
      digest: info.digest,
      size: info.size,
      ...annotationsField(format.annotations?.descriptor ?? {}),
      platform: p,
    },
    configDigest: configInfo.digest,
  };
}

/** One index over per-platform manifests. */
export async function writeIndex(
  content: BlobWriter,
  manifests: Descriptor[],
  format: ExportFormat,
): Promise<Descriptor> {
  const index: Index = {
    schemaVersion: 2,
    mediaType: format.oci ? MediaType.OciIndex : MediaType.DockerManifestList,
    manifests: manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      ...annotationsField(m.annotations ?? {}),
      platform: m.platform,
    })),
    ...annotationsField(format.annotations?.manifest ?? {}),
  };
  const info = await content.writeBlob(Buffer.from(JSON.stringify(index)));
  return {
    mediaType: index.mediaType!,
    digest: info.digest,
    size: info.size,
    ...annotationsField(format.annotations?.descriptor ?? {}),
  };
}
