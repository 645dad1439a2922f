/**
 * Base images for a build: resolve a reference and platform to a manifest and config (the local
 * image store first, a registry when the image is absent or `--pull` is set), make sure its
 * blobs are in the content store, and unpack its layers into snapshots named by chain id, so
 * every build that uses the same layers shares them.
 */
import { pipeline, type Readable } from 'node:stream';
import { type Digest, DigestStream } from '../digest/digest.ts';
import { diskFull, isDiskFull, KilnError } from '../errors/errors.ts';
import { loadConfig, resolvePlatformManifest } from '../image/copy.ts';
import type { ImageSource } from '../image/image.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { type Manifest, manifestMediaType, parseManifestDocument } from '../oci/manifest.ts';
import { formatPlatform, type Platform } from '../oci/platform.ts';
import { normalizeReference, parseReference } from '../reference/reference.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { type Limits, layerLimit, loadLimits, rootConfigPath } from '../store/limits.ts';
import type { Store } from '../store/store.ts';
import { chainIds } from './chain.ts';
import type { FsState } from './state.ts';

/** Where images come from when the local store lacks them (the registry client). */
export interface RemoteImages {
  /** The image (or index) a reference names in its registry. */
  source(ref: string): Promise<ImageSource>;
}

export interface ResolvedImage {
  /** Normalized name pinned by the manifest digest, e.g. docker.io/library/busybox:latest@sha256:… */
  ref: string;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

export class BaseImages {
  private readonly store: Store;
  private readonly remote?: RemoteImages;
  private readonly pull: boolean;
  private readonly resolved = new Map<string, Promise<ResolvedImage>>();
  /** The root's [limits], read when the first layer unpacks. */
  private limits?: Promise<Limits>;

  constructor(store: Store, remote: RemoteImages | undefined, opts: { pull: boolean }) {
    this.store = store;
    this.remote = remote;
    this.pull = opts.pull;
  }

  /** Resolve once per (ref, platform) per build. */
  resolve(ref: string, platform: Platform): Promise<ResolvedImage> {
    const key = `${ref} ${formatPlatform(platform)}`;
    let p = this.resolved.get(key);
    if (!p) {
      p = this.resolveUncached(ref, platform);
      this.resolved.set(key, p);
    }
    return p;
  }

  private async resolveUncached(ref: string, platform: Platform): Promise<ResolvedImage> {
    const parsed = parseReference(ref);
    const name = normalizeReference(ref);
    const local = await this.localSource(name, parsed.digest);
    if (local && !this.pull) {
      try {
        return await this.fromSource(local, name, platform);
      } catch (err) {
        // A local index may lack this platform; the registry may have it.
        if (!this.remote || (err as KilnError).code !== 'PLATFORM_NOT_FOUND') throw err;
      }
    }
    if (!this.remote) {
      throw new KilnError(
        'IMAGE_NOT_FOUND',
        `base image ${name} is not in the local store and no registry is configured`,
        {
          hint: 'load or import it first (kiln image load / kiln image import), or pull it',
        },
      );
    }
    const remote = await this.remote.source(ref);
    const picked = await resolvePlatformManifest(remote, platform);
    // Pull just this platform's manifest and blobs into the local store, and name it as docker does.
    await this.store.importImage({ root: picked.descriptor, blobs: remote.blobs });
    // Only this platform's blobs are here, so the name points at its manifest, not the index.
    if (!parsed.digest) await this.store.images.put(name, picked.descriptor);
    return this.fromSource({ root: picked.descriptor, blobs: this.store.content }, name, platform);
  }

  private async localSource(name: string, digest: string | undefined): Promise<ImageSource | undefined> {
    if (digest) {
      const info = await this.store.content.info(digest as Digest);
      if (!info) return undefined;
      const rec = await this.store.images.get(name);
      const mediaType =
        rec?.target.digest === digest
          ? rec.target.mediaType
          : await storedMediaType(this.store, digest as Digest);
      return { root: { mediaType, digest: digest as Digest, size: info.size }, blobs: this.store.content };
    }
    const rec = await this.store.images.get(name);
    return rec ? { root: rec.target, blobs: this.store.content } : undefined;
  }

  private async fromSource(src: ImageSource, name: string, platform: Platform): Promise<ResolvedImage> {
    const picked = await resolvePlatformManifest(src, platform);
    const config = await loadConfig(src.blobs, picked.manifest);
    const bare = name.replace(/@sha256:[a-f0-9]{64}$/, '');
    return {
      ref: `${bare}@${picked.descriptor.digest}`,
      manifestDescriptor: picked.descriptor,
      manifest: picked.manifest,
      config,
    };
  }

  /** Unpack the image's layers into snapshots (shared by chain id) and return its state. */
  async unpack(img: ResolvedImage, sn: Snapshotter): Promise<FsState> {
    const diffIds = img.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== img.manifest.layers.length) {
      throw new KilnError(
        'INVALID_IMAGE',
        `image ${img.ref} has ${img.manifest.layers.length} layers but ${diffIds.length} diff_ids`,
      );
    }
    const chain = chainIds(diffIds);
    const state: FsState = { kind: 'fs', layers: [] };
    let parent: string | undefined;
    for (let i = 0; i < chain.length; i++) {
      const key = `layer-${chain[i].slice('sha256:'.length)}`;
      if (!(await snapshotExists(sn, key)))
        await this.applyLayer(img.manifest.layers[i], diffIds[i], parent, key, sn);
      const desc = img.manifest.layers[i];
      state.layers.push({
        snapshot: key,
        layer: { digest: desc.digest, diffID: diffIds[i], size: desc.size, mediaType: desc.mediaType },
      });
      parent = key;
    }
    return state;
  }

  private async applyLayer(
    desc: Descriptor,
    diffID: Digest,
    parent: string | undefined,
    key: string,
    sn: Snapshotter,
  ): Promise<void> {
    const raw = await this.store.content.openRead(desc.digest);
    const { ByteLimit, decompressAuto } = await import('../archive/compress.ts');
    this.limits ??= loadLimits(this.store.root);
    const max = layerLimit(await this.limits, desc.size);
    let stream: Readable;
    try {
      ({ stream } = await decompressAuto(raw));
    } catch (err) {
      raw.destroy();
      throw layerError(desc, err, this.store.root);
    }
    // The decompressed bytes are capped (a small blob must not fill the disk) and checked
    // against the config's diff_id while they unpack. pipeline keeps an error listener on every
    // stage, so a codec error after the unpacker has stopped reading cannot crash the process.
    const digester = new DigestStream();
    const tooLarge = (limit: number) =>
      new KilnError(
        'LAYER_TOO_LARGE',
        `layer ${desc.digest} (${desc.size} bytes compressed) unpacks to more than ${limit} bytes`,
        {
          hint: `the image is corrupt or a decompression bomb; if it is genuine, raise [limits] layer-expansion / layer-floor / layer-max in ${rootConfigPath(this.store.root)}`,
        },
      );
    let failure: Error | undefined;
    const unpacked = new Promise<void>((resolve) => {
      pipeline(stream, new ByteLimit(max, tooLarge), digester, (err) => {
        failure ??= err ?? undefined;
        resolve();
      });
    });
    try {
      await sn.applyLayerAsSnapshot(parent, digester, key);
    } catch (err) {
      digester.destroy();
      // Another build may have committed the same chain id concurrently: that is success.
      if (await snapshotExists(sn, key)) return;
      await unpacked;
      // A codec error or the size cap reaches the unpacker as its own error; anything else the
      // unpacker threw (an unsafe path, a bad tar) is the story, not the early close it caused.
      throw layerError(desc, failure instanceof KilnError ? failure : err, this.store.root);
    }
    // The unpacker may stop at the tar end marker; drain the rest so the digest covers every byte.
    digester.resume();
    await unpacked;
    const actual = failure ? undefined : digester.digest();
    if (actual !== diffID) {
      await sn.remove(key).catch(() => {});
      if (failure) throw layerError(desc, failure, this.store.root);
      throw new KilnError(
        'DIGEST_MISMATCH',
        `layer ${desc.digest} unpacks to ${actual}, but the image config says ${diffID}`,
        {
          hint: 'the image is corrupt; remove it and pull it again',
        },
      );
    }
  }
}

async function snapshotExists(sn: Snapshotter, key: string): Promise<boolean> {
  return sn.stat(key).then(
    () => true,
    () => false,
  );
}

/**
 * A failure to unpack a layer, naming the layer; kiln's own errors keep their code and hint,
 * anything else (a system error from the unpacker) becomes LAYER_UNPACK_FAILED.
 */
export function layerError(desc: Descriptor, err: unknown, root: string): KilnError {
  if (isDiskFull(err)) return diskFull(root, err);
  if (err instanceof KilnError) {
    if (err.message.includes(desc.digest)) return err;
    return new KilnError(err.code, `layer ${desc.digest}: ${err.message}`, { hint: err.hint, cause: err });
  }
  return new KilnError('LAYER_UNPACK_FAILED', `layer ${desc.digest}: ${(err as Error).message}`, {
    cause: err,
    hint: 'the layer may be damaged; remove the image and pull it again',
  });
}

/** The media type of a stored manifest or index, read from the document itself. */
async function storedMediaType(store: Store, digest: Digest): Promise<string> {
  const doc = parseManifestDocument(await store.content.readBlob(digest));
  return manifestMediaType(doc.kind === 'index' ? doc.index : doc.manifest);
}
