/**
 * Base images for a build: resolve a reference and platform to a manifest and config (the local
 * image store first, a registry when the image is absent or `--pull` is set), make sure its
 * blobs are in the content store and held by the build, and unpack its layers into snapshots
 * named by chain id (held too), so every build that uses the same layers shares them and no
 * concurrent prune takes them while this build runs.
 */
import { pipeline, type Readable } from 'node:stream';
import { type Digest, DigestStream, digestMismatch } from '../digest/digest.ts';
import { diskFull, hasCode, isDiskFull, KilnError } from '../errors/errors.ts';
import { copyImage } from '../image/copy.ts';
import type { ImageRecord, ImageSource } from '../image/image.ts';
import { loadConfig, resolvePlatformManifest } from '../image/load.ts';
import { LocalImageSink } from '../imagestore/imagestore.ts';
import { privilegeError } from '../isolation/privilege.ts';
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
  /** Images the build brings itself (oci-layout:// contexts), by pinned name: never pulled. */
  private readonly provided = new Map<string, ImageSource>();
  /** The root's [limits], read when the first layer unpacks. */
  private limits?: Promise<Limits>;

  constructor(store: Store, remote: RemoteImages | undefined, opts: { pull: boolean }) {
    this.store = store;
    this.remote = remote;
    this.pull = opts.pull;
  }

  /**
   * Serve `ref` (name@digest) from `source` instead of the store or a registry: its platform's
   * manifest and blobs are copied (verified) into the content store under the build's lease.
   */
  provide(ref: string, source: ImageSource): void {
    this.provided.set(normalizeReference(ref), source);
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

  /**
   * The config of `ref` for `platform`, read without pulling anything into the store (what a
   * build check needs): the local store's copy, else the registry's manifest and config. An image
   * whose config names another platform is returned as it is, for the check to report.
   */
  async inspectConfig(ref: string, platform: Platform): Promise<{ ref: string; config: ImageConfig }> {
    const parsed = parseReference(ref);
    const name = normalizeReference(ref);
    const bare = name.replace(/@sha256:[a-f0-9]{64}$/, '');
    const read = async (src: ImageSource) => {
      const picked = await resolvePlatformManifest(src, platform);
      return {
        ref: `${bare}@${picked.descriptor.digest}`,
        config: await loadConfig(src.blobs, picked.manifest),
      };
    };
    const own = this.provided.get(name);
    if (own) return read(own);
    if (!this.pull) {
      const rec = parsed.digest ? undefined : await this.store.images.get(name);
      const local = await this.localSource(name, parsed.digest, rec);
      if (local) {
        try {
          return await read(local);
        } catch (err) {
          if (!hasCode(err, 'PLATFORM_NOT_FOUND') || !this.remote) throw err;
        }
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
    return read(await this.remote.source(ref));
  }

  private async resolveUncached(ref: string, platform: Platform): Promise<ResolvedImage> {
    const parsed = parseReference(ref);
    const name = normalizeReference(ref);
    const own = this.provided.get(name);
    if (own) return this.fromProvided(own, name, platform);
    let gone: unknown;
    /** The local store lacks this platform: where to fetch it, and what the store has instead. */
    let missing: { ref: string; pinned: boolean; err: KilnError } | undefined;
    if (!this.pull) {
      try {
        const local = await this.fromLocal(name, parsed.digest, platform);
        if ('image' in local) return local.image;
        missing = local.fetch;
      } catch (err) {
        // A prune may have taken the local copy's blobs since it was found: pull it again. The
        // local image may lack this platform, which the registry may have.
        if (GONE.some((c) => hasCode(err, c))) gone = err;
        else if (hasCode(err, 'PLATFORM_NOT_FOUND'))
          missing = { ref, pinned: parsed.digest !== undefined, err: err as KilnError };
        else throw err;
      }
    }
    if (!this.remote) {
      if (gone) throw gone;
      if (missing) throw missing.err;
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
        if (missing) return await this.pulled(missing.ref, name, missing.pinned, platform);
        return await this.pulled(ref, name, parsed.digest !== undefined, platform);
      } catch (err) {
        if (GONE.some((c) => hasCode(err, c)) && attempt < PULL_ATTEMPTS) continue;
        if (missing) {
          // The registry's own "no such platform" names what it offers; anything else (no
          // network, no such repository) follows what the local store lacks.
          if (hasCode(err, 'PLATFORM_NOT_FOUND')) throw err;
          throw new KilnError(
            err instanceof KilnError ? err.code : missing.err.code,
            `${missing.err.message}; fetching it from ${missing.ref} failed: ${(err as Error).message}`,
            { cause: err, hint: missing.err.hint },
          );
        }
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
   * A provided image: its root resolves to this platform's manifest, copied into the store (not
   * named). The pinned name the graph then uses is provided too, from the store, so that it is
   * never looked for in a registry either (`--pull`).
   */
  private async fromProvided(src: ImageSource, name: string, platform: Platform): Promise<ResolvedImage> {
    const picked = await resolvePlatformManifest(src, platform);
    const sink = new LocalImageSink(this.store.content, this.store.images);
    await copyImage({ root: picked.descriptor, blobs: src.blobs }, sink);
    const img = await this.held({ root: picked.descriptor, blobs: this.store.content }, name, platform);
    this.provided.set(img.ref, { root: picked.descriptor, blobs: this.store.content });
    return img;
  }

  /**
   * The base image from the local store, for `platform` only. A name pulled for one platform of
   * a multi-platform image records the index it came from: the wanted platform is taken from it
   * when stored, and otherwise `fetch` says which index to fetch it from. Undefined when the
   * store does not have the image at all.
   */
  private async fromLocal(
    name: string,
    digest: string | undefined,
    platform: Platform,
  ): Promise<{ image: ResolvedImage } | { fetch?: { ref: string; pinned: boolean; err: KilnError } }> {
    const rec = digest ? undefined : await this.store.images.get(name);
    const local = await this.localSource(name, digest, rec);
    if (!local) return {};
    try {
      return { image: await this.held(local, name, platform) };
    } catch (err) {
      if (!hasCode(err, 'PLATFORM_NOT_FOUND') || !rec?.index) throw err;
      const viaIndex = { root: rec.index, blobs: this.store.content };
      try {
        return { image: await this.held(viaIndex, name, platform) };
      } catch (inner) {
        // The index lacks the platform: nothing to fetch from it (the registry's tag may offer it).
        if (hasCode(inner, 'PLATFORM_NOT_FOUND')) throw inner;
        if (!GONE.some((c) => hasCode(inner, c))) throw inner;
      }
      // Pinned by digest: the tag may have moved since, and a build must not mix two versions.
      const bare = name.replace(/:[^/:@]+$/, '');
      return { fetch: { ref: `${bare}@${rec.index.digest}`, pinned: true, err: err as KilnError } };
    }
  }

  /**
   * Pull just this platform's manifest and blobs into the local store, under the build's lease
   * (blobs it writes are the build's until it ends), and name it as docker does: the name points
   * at the platform's manifest and records the index it was picked from (stored too), so another
   * platform is found through it; a name that already records that index is left as it is.
   */
  private async pulled(ref: string, name: string, byDigest: boolean, platform: Platform) {
    const remote = await this.remote!.source(ref);
    const picked = await resolvePlatformManifest(remote, platform);
    const index = picked.descriptor.digest === remote.root.digest ? undefined : remote.root;
    if (index) {
      const bytes = await remote.blobs.readBlob(index.digest);
      await this.store.content.writeBlob(bytes, { digest: index.digest, size: index.size });
    }
    const sink = new LocalImageSink(this.store.content, this.store.images);
    await copyImage({ root: picked.descriptor, blobs: remote.blobs }, sink);
    if (!byDigest) await this.store.images.put(name, picked.descriptor, { index, keepSameIndex: true });
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

  private async localSource(
    name: string,
    digest: string | undefined,
    rec: ImageRecord | undefined,
  ): Promise<ImageSource | undefined> {
    if (digest) {
      const info = await this.store.content.info(digest as Digest);
      if (!info) return undefined;
      const named = await this.store.images.get(name);
      const mediaType =
        named?.target.digest === digest
          ? named.target.mediaType
          : await storedMediaType(this.store, digest as Digest);
      return { root: { mediaType, digest: digest as Digest, size: info.size }, blobs: this.store.content };
    }
    return rec ? { root: rec.target, blobs: this.store.content } : undefined;
  }

  private async fromSource(src: ImageSource, name: string, platform: Platform): Promise<ResolvedImage> {
    const picked = await resolvePlatformManifest(src, platform).catch((err) => {
      if (!hasCode(err, 'PLATFORM_NOT_FOUND')) throw err;
      throw new KilnError(err.code, `base image ${name}: ${err.message}`, { hint: err.hint, cause: err });
    });
    const config = await loadConfig(src.blobs, picked.manifest);
    // A single manifest (or an index entry that lies) says its platform only in its config: an
    // image for another platform must never become this platform's base.
    if (config.architecture && !platformMatches(platform, config)) {
      throw new KilnError(
        'PLATFORM_NOT_FOUND',
        `base image ${name} is for ${formatPlatform(config)} (${picked.descriptor.digest}), not ${formatPlatform(platform)}, the platform being built`,
        {
          hint: `pull the image for ${formatPlatform(platform)} (kiln pull --platform ${formatPlatform(platform)} ${name}), or build for ${formatPlatform(config)} with --platform`,
        },
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
      const why = failure instanceof KilnError ? failure : err;
      throw layerError(desc, privilegeError(why, undefined, 'the base image') ?? why, this.store.root);
    }
    // The unpacker may stop at the tar end marker; drain the rest so the digest covers every byte.
    digester.resume();
    await unpacked;
    const actual = failure ? undefined : digester.digest();
    if (actual !== diffID) {
      await sn.remove(key).catch(() => {});
      if (failure) throw layerError(desc, failure, this.store.root);
      throw digestMismatch(
        `layer ${desc.digest} unpacked (its diff ID in the image config)`,
        diffID,
        String(actual),
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
