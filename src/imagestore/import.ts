/**
 * `kiln image import`, as `docker import`: one layer from a rootfs tarball (plain or compressed;
 * stored gzip-compressed), a config built from --change instructions, an OCI manifest, a name.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream, decompressAuto } from '../archive/compress.ts';
import { BLOCK, decodeBlock, isZeroBlock } from '../archive/tar/header.ts';
import type { Ingester } from '../content/content.ts';
import { DigestStream } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageStore } from '../image/image.ts';
import type { ContainerConfig, ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest, type Manifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { hostPlatform, normalizePlatform, type Platform } from '../oci/platform.ts';
import { isoTime } from '../sys/time.ts';
import { applyChanges } from './changes.ts';

export interface ImportOptions {
  /** Name to give the image; omit to only write the blobs and return the manifest. */
  name?: string;
  platform?: Platform;
  /** Dockerfile-style instructions: CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL. */
  changes?: string[];
  /** Commit message recorded in the history entry. */
  message?: string;
  /** Creation time (defaults to now); fix it to get reproducible digests. */
  created?: Date;
  /** Where the tarball came from, for the history entry. */
  sourceName?: string;
}

export interface ImportResult {
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
  diffID: string;
  name?: string;
}

/** Build a config with one layer. Pure (no I/O) so fixtures and tests can use it. */
export function importConfig(diffID: string, opts: ImportOptions): ImageConfig {
  const p = normalizePlatform(opts.platform ?? hostPlatform());
  const created = isoTime(opts.created);
  const container: ContainerConfig = applyChanges({}, opts.changes ?? []);
  const cfg: ImageConfig = {
    created,
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: container,
    rootfs: { type: 'layers', diff_ids: [diffID as `sha256:${string}`] },
    history: [
      {
        created,
        created_by: `kiln image import ${opts.sourceName ?? '-'}`,
        ...(opts.message ? { comment: opts.message } : {}),
      },
    ],
  };
  return cfg;
}

function notATar(cause?: unknown): KilnError {
  return new KilnError('IMPORT_NOT_TAR', 'the file to import is not a tar archive', {
    cause,
    hint: 'import a root filesystem tarball (tar, tar.gz or tar.zst); to load a saved image use `kiln image load`',
  });
}

/** Passes bytes through, failing early when the first block is not a tar header. */
class TarSniffer extends Transform {
  private head: Buffer[] = [];
  private headLen = 0;
  private checked = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.checked) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen >= BLOCK) {
        const err = this.check();
        if (err) {
          cb(err);
          return;
        }
      }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    cb(this.checked ? null : this.headLen === 0 ? null : notATar());
  }

  private check(): KilnError | undefined {
    this.checked = true;
    const block = Buffer.concat(this.head).subarray(0, BLOCK);
    this.head = [];
    if (isZeroBlock(block)) return undefined;
    try {
      decodeBlock(block, 0);
      return undefined;
    } catch (cause) {
      return notATar(cause);
    }
  }
}

/**
 * Import a rootfs tarball. `content` should be leased (see Store.withLease) until the name is set.
 */
export async function importRootfs(
  source: AsyncIterable<Uint8Array>,
  content: Ingester,
  images: ImageStore | undefined,
  opts: ImportOptions = {},
): Promise<ImportResult> {
  const { stream } = await decompressAuto(source);
  const diff = new DigestStream();
  const gzip = compressStream('gzip');
  const piping = pipeline(stream, new TarSniffer(), diff, gzip);
  const ingesting = content.ingest(gzip).catch((err) => {
    gzip.destroy(err);
    throw err;
  });
  const [layerInfo] = await Promise.all([ingesting, piping]);
  const diffID = diff.digest();
  const layer: Descriptor = {
    mediaType: MediaType.OciLayerGzip,
    digest: layerInfo.digest,
    size: layerInfo.size,
  };

  const configBytes = Buffer.from(JSON.stringify(importConfig(diffID, opts)));
  const configInfo = await content.writeBlob(configBytes);
  const config: Descriptor = {
    mediaType: MediaType.OciConfig,
    digest: configInfo.digest,
    size: configInfo.size,
  };

  const m: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] };
  const mBytes = encodeManifest(m);
  const mInfo = await content.writeBlob(mBytes);
  const manifest: Descriptor = { mediaType: MediaType.OciManifest, digest: mInfo.digest, size: mInfo.size };
  let name: string | undefined;
  if (opts.name !== undefined && images) name = (await images.put(opts.name, manifest)).name;
  // Unnamed, it stays as docker's <none>:<none>: the ID printed for it is usable.
  else if (images) await images.keepUnnamed(manifest);
  return { manifest, config, layer, diffID, name };
}
