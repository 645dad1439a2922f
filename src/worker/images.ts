/**
 * Base images for a build: resolve a reference and platform to a manifest and config (the local
 * image store first, a registry when the image is absent or `--pull` is set), make sure its
 * blobs are in the content store and held by the build, and unpack its layers into snapshots
 * named by chain id (held too), so every build that uses the same layers shares them and no
 * concurrent prune takes them while this build runs.
 */
import { pipeline, type Readable } from 'node:stream';
import { type Digest, DigestStream } from '../digest/digest.ts';
import { diskFull, hasCode, isDiskFull, KilnError } from '../errors/errors.ts';
import { copyImage, loadConfig, resolvePlatformManifest } from '../image/copy.ts';
import type { ImageSource } from '../image/image.ts';
import { LocalImageSink } from '../imagestore/imagestore.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { type Manifest, manifestMediaType, parseManifestDocument } from '../oci/manifest.ts';
import { formatPlatform, type Platform, platformMatches } from '../oci/platform.ts';
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

/** Pulls of one image that may find their blobs pruned again before they are held. */
const PULL_ATTEMPTS = 3;

/** The local copy's blobs went (a concurrent prune) between finding and holding them. */
const GONE = ['BLOB_NOT_FOUND', 'IMAGE_CONTENT_GONE'];

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
    let gone: unknown;
    if (!this.pull) {
      try {
        const local = await this.localSource(name, parsed.digest);
        if (local) return await this.held(local, name, platform);
      } catch (err) {
        // A local index may lack this platform (the registry may have it), and a prune may have
        // taken the local copy's blobs since it was found: pull it again.
        if (GONE.some((c) => hasCode(err, c))) gone = err;
        else if (!this.remote || !hasCode(err, 'PLATFORM_NOT_FOUND')) throw err;
      }
    }
    if (!this.remote) {
      if (gone) throw gone;
      throw new KilnError(
        'IMAGE_NOT_FOUND',
        `base image ${name} is not in the local store and no registry is configured`,
        {
          hint: 'load or import it first (kiln image load / kiln image import), or pull it',
        },
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pulled(ref, name, parsed.digest !== undefined, platform);
      } catch (err) {
        if (GONE.some((c) => hasCode(err, c)) && attempt < PULL_ATTEMPTS) continue;
        if (!gone) throw err;
        throw new KilnError(
          'IMAGE_CONTENT_GONE',
          `base image ${name} was removed from the local store while this build used it, and pulling it again failed: ${(err as Error).message}`,
          { cause: err, hint: 'run the build again once the concurrent `kiln prune` has finished' },
        );
      }
    }
  }

  /**
   * Pull just this platform's manifest and blobs into the local store, under the build's lease
   * (blobs it writes are the build's until it ends), and name it as docker does.
   */
  private async pulled(ref: string, name: string, byDigest: boolean, platform: Platform) {
    const remote = await this.remote!.source(ref);
    const picked = await resolvePlatformManifest(remote, platform);
    const sink = new LocalImageSink(this.store.content, this.store.images);
    await copyImage({ root: picked.descriptor, blobs: remote.blobs }, sink);
    // Only this platform's blobs are here, so the name points at its manifest, not the index.
    if (!byDigest) await this.store.images.put(name, picked.descriptor);
    return this.held({ root: picked.descriptor, blobs: this.store.content }, name, platform);
  }

  /**
   * Resolve from a local source and hold every blob the build reads or names — the root it
   * came from, the manifest, the config, the layers — before anything uses them. Throws
   * IMAGE_CONTENT_GONE when one went meanwhile.
   */
  private async held(src: ImageSource, name: string, platform: Platform): Promise<ResolvedImage> {
    const img = await this.fromSource(src, name, platform);
    const { manifest } = img;
    const needed = [src.root.digest, img.manifestDescriptor.digest, manifest.config.digest];
    // Foreign layers live at their URLs, not in the store.
    for (const l of manifest.layers) if (!l.urls?.length) needed.push(l.digest);
    const absent = await this.store.content.hold(needed);
    if (absent.length) {
      throw new KilnError(
        'IMAGE_CONTENT_GONE',
        `base image ${name} lacks ${absent.length} of its blobs in the local store (${absent[0]})`,
        { hint: 'pull it again (kiln pull), or remove it with kiln rmi' },
      );
    }
    return img;
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
    // A name that points at one manifest (as a pull leaves it) says its platform only in the
    // config; without this a FROM --platform=linux/s390x built on the amd64 image pulled earlier.
    const have = { os: config.os, architecture: config.architecture, variant: config.variant };
    if (picked.descriptor.digest === src.root.digest && have.os && !platformMatches(platform, have)) {
      throw new KilnError(
        'PLATFORM_NOT_FOUND',
        `${name} is ${formatPlatform(have)}, not ${formatPlatform(platform)}`,
        { hint: 'pick its platform with --platform or FROM --platform, or pull an image that has this one' },
      );
    }
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
    const keys = chainIds(diffIds).map((c) => `layer-${c.slice('sha256:'.length)}`);
    // Held first: a layer snapshot present now stays for the rest of the build.
    const absent = new Set(await sn.hold(keys));
    const state: FsState = { kind: 'fs', layers: [] };
    let parent: string | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (absent.has(key)) await this.applyLayer(img.manifest.layers[i], diffIds[i], parent, key, sn);
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
