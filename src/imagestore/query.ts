/**
 * What the image commands show, as data: finding an image by name or ID (any unique prefix, as
 * docker), listing (docker images) and inspecting (docker image inspect). The CLI only formats
 * what these return; history and tag live in history.ts and here; rmi and prune in store/remove.ts (they
 * collect garbage).
 */
import type { LocalContentStore } from '../content/local/local.ts';
import type { MetaDB } from '../content/local/meta.ts';
import { type Digest, digestHex } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageRecord } from '../image/image.ts';
import { loadConfig, loadIndex, loadManifest, resolvePlatformManifest } from '../image/load.ts';
import type { ContainerConfig, ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Manifest } from '../oci/manifest.ts';
import { isIndexType } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.ts';
import { familiarName, parseReference, type Reference, repositoryName } from '../reference/reference.ts';
import { imageNotFound, type LocalImageStore } from './imagestore.ts';
import { isDanglingName } from './names.ts';
import { LayerSizes } from './sizes.ts';

/** The parts of an open state root (store/store.ts) that queries read. */
export interface QueryStore {
  content: LocalContentStore;
  images: LocalImageStore;
  meta: MetaDB;
}

/** The manifest and config shown for an image: its own, or one platform's from an index. */
export interface ResolvedImage {
  record: ImageRecord;
  manifestDesc: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: Digest;
  /** Platforms an index offers (and has stored); one entry for a single manifest. */
  platforms: string[];
}

/** docker's IMAGE ID: the config digest of a single-platform image, the index digest otherwise. */
export function imageId(r: ResolvedImage): Digest {
  return isIndexType(r.record.target.mediaType) ? r.record.target.digest : r.configDigest;
}

/** One stored image: a root and the names that point at it (none for `<none>:<none>`). */
export interface StoredImage {
  target: Descriptor;
  /** Normalized references, in name order. */
  names: string[];
  /** A record for it: the first name's, or the unnamed record. */
  record: ImageRecord;
  /** When it entered the store under its current names (the earliest record). */
  storedAt: string;
  /** When a name was last set (docker's LastTagTime). */
  lastTagTime: string;
}

/** Every image in the store, named or not, grouped by root. */
export async function storedImages(store: QueryStore): Promise<StoredImage[]> {
  const byRoot = new Map<Digest, StoredImage>();
  for (const r of await store.images.listAll()) {
    let img = byRoot.get(r.target.digest);
    if (!img) {
      img = { target: r.target, names: [], record: r, storedAt: r.createdAt, lastTagTime: r.updatedAt };
      byRoot.set(r.target.digest, img);
    }
    if (!isDanglingName(r.name)) {
      if (img.names.length === 0) img.record = r;
      img.names.push(r.name);
    }
    if (r.createdAt < img.storedAt) img.storedAt = r.createdAt;
    if (r.updatedAt > img.lastTagTime) img.lastTagTime = r.updatedAt;
  }
  return [...byRoot.values()];
}

/**
 * An image by name (`app:1`, `repo@sha256:…`) or by ID: the full ID, any unique prefix of it
 * (with or without `sha256:`), or the root digest, as docker accepts. A name wins over an ID
 * prefix that happens to spell the same; a prefix that fits two images is an error.
 */
export async function findImage(store: QueryStore, nameOrId: string): Promise<ImageRecord> {
  let ref: Reference | undefined;
  try {
    ref = parseReference(nameOrId);
  } catch {
    // Not a valid reference; it may still be an ID.
  }
  if (ref?.digest) {
    const repo = repositoryName(ref);
    for (const img of await storedImages(store)) {
      if (img.target.digest !== ref.digest) continue;
      const named = img.names.find((n) => repositoryName(parseReference(n)) === repo);
      if (named) return (await store.images.get(named)) ?? img.record;
    }
    throw imageNotFound(nameOrId);
  }
  if (ref) {
    const rec = await store.images.get(nameOrId);
    if (rec) return rec;
  }
  const hex = nameOrId.startsWith('sha256:') ? nameOrId.slice(7) : nameOrId;
  if (/^[a-f0-9]{1,64}$/.test(hex)) {
    const matches = new Map<Digest, StoredImage>();
    for (const img of await storedImages(store)) {
      const id = await idOf(store.content, img.record);
      if (digestHex(id).startsWith(hex) || img.target.digest === `sha256:${hex}`) {
        const prev = matches.get(id);
        // The same image may be stored twice (a gzip and an uncompressed variant): prefer a name.
        if (!prev || (prev.names.length === 0 && img.names.length > 0)) matches.set(id, img);
      }
    }
    if (matches.size > 1) {
      throw new KilnError(
        'IMAGE_AMBIGUOUS',
        `image ID prefix "${nameOrId}" matches ${matches.size} images: ${[...matches.keys()].map((d) => digestHex(d).slice(0, 12)).join(', ')}`,
        { hint: 'give more characters of the ID, or a name' },
      );
    }
    const [only] = matches.values();
    if (only) return only.record;
  }
  throw imageNotFound(nameOrId);
}

/** The image ID of a record, or its root digest when its manifest or config cannot be read. */
async function idOf(content: LocalContentStore, record: ImageRecord): Promise<Digest> {
  if (isIndexType(record.target.mediaType)) return record.target.digest;
  const r = await resolveImage(content, record).catch(() => undefined);
  return r ? imageId(r) : record.target.digest;
}

export async function resolveImage(
  content: LocalContentStore,
  record: ImageRecord,
  platform?: Platform,
): Promise<ResolvedImage> {
  const root = record.target;
  const platforms: string[] = [];
  if (isIndexType(root.mediaType)) {
    for (const c of (await loadIndex(content, root)).manifests) {
      // An attestation manifest (unknown/unknown, BuildKit's) is about an image, not one.
      if (c.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
      if (c.platform && (await content.info(c.digest))) platforms.push(formatPlatform(c.platform));
    }
  }
  let manifestDesc: Descriptor;
  let manifest: Manifest;
  try {
    ({ descriptor: manifestDesc, manifest } = await resolvePlatformManifest(
      { root, blobs: content },
      platform ?? hostPlatform(),
    ));
  } catch (err) {
    if (platform || !isIndexType(root.mediaType)) throw err;
    const first = (await loadIndex(content, root)).manifests.find(
      (c) => c.platform && platforms.includes(formatPlatform(c.platform)),
    );
    if (!first) throw err;
    manifestDesc = first;
    manifest = await loadManifest(content, first);
  }
  const config = await loadConfig(content, manifest);
  if (!isIndexType(root.mediaType))
    platforms.push(
      formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant }),
    );
  return { record, manifestDesc, manifest, config, configDigest: manifest.config.digest, platforms };
}

/** One image as `docker images` sees it (the CLI makes a row per name). */
export interface ImageSummary {
  id: Digest;
  /** The root (manifest or index) digest: docker's DIGEST column. */
  digest: Digest;
  /** Full names, e.g. docker.io/library/busybox:latest; empty for `<none>:<none>`. */
  names: string[];
  /** The config's creation time (ISO), if it has one. */
  created?: string;
  /** Uncompressed bytes of the layers (sizes.ts), as docker reports it. */
  size: number;
  /** Its layer blobs with their uncompressed sizes, for shared-size accounting. */
  layers: { digest: Digest; size: number }[];
  labels: Record<string, string>;
  platforms: string[];
  /** When it was stored and when a name was last set (ISO). */
  storedAt: string;
  lastTagTime: string;
}

/** Every image, named or not; an image whose manifest or config is missing is listed with what is known. */
export async function listImages(store: QueryStore): Promise<ImageSummary[]> {
  const sizes = new LayerSizes(store.content, store.meta);
  const out: ImageSummary[] = [];
  for (const img of await storedImages(store)) {
    const r = await resolveImage(store.content, img.record).catch(() => undefined);
    const layers: { digest: Digest; size: number }[] = [];
    for (const l of r?.manifest.layers ?? []) layers.push({ digest: l.digest, size: await sizes.layer(l) });
    out.push({
      id: r ? imageId(r) : img.target.digest,
      digest: img.target.digest,
      names: img.names,
      created: r?.config.created,
      size: await sizes.total(r?.manifest.layers ?? []),
      layers,
      labels: r?.config.config?.Labels ?? {},
      platforms: r?.platforms ?? [],
      storedAt: img.storedAt,
      lastTagTime: img.lastTagTime,
    });
  }
  return out;
}

/** `docker image inspect`'s shape (the fields that mean something without a daemon). */
export interface ImageInspect {
  Id: Digest;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created?: string;
  DockerVersion: string;
  Author: string;
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  RootFS: { Type: string; Layers: Digest[] };
  Metadata: { LastTagTime: string };
  Descriptor: Descriptor;
  Manifest: Descriptor;
  Platforms: string[];
}

export async function inspectImage(
  store: QueryStore,
  nameOrId: string,
  platform?: Platform,
): Promise<ImageInspect> {
  const record = await findImage(store, nameOrId);
  const r = await resolveImage(store.content, record, platform);
  const img = (await storedImages(store)).find((x) => x.target.digest === record.target.digest);
  const names = img?.names ?? [];
  const repoTags = names.map((n) => familiarName(parseReference(n)));
  const repoDigests = [
    ...new Set(
      names.map((n) => {
        const ref = parseReference(n);
        return familiarName({ domain: ref.domain, path: ref.path, digest: record.target.digest });
      }),
    ),
  ];
  return {
    Id: imageId(r),
    RepoTags: repoTags,
    RepoDigests: repoDigests,
    Parent: '',
    Comment: r.config.history?.at(-1)?.comment ?? '',
    Created: r.config.created,
    DockerVersion: '',
    Author: r.config.author ?? '',
    Config: r.config.config ?? {},
    Architecture: r.config.architecture,
    ...(r.config.variant ? { Variant: r.config.variant } : {}),
    Os: r.config.os,
    Size: await new LayerSizes(store.content, store.meta).total(r.manifest.layers),
    RootFS: { Type: r.config.rootfs?.type ?? 'layers', Layers: r.config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: img?.lastTagTime ?? record.updatedAt },
    Descriptor: record.target,
    Manifest: r.manifestDesc,
    Platforms: r.platforms,
  };
}

/** `kiln tag SRC DST`: point DST at SRC's root (and the index it was pulled from). */
export async function tagImage(store: QueryStore, src: string, dst: string): Promise<ImageRecord> {
  const rec = await findImage(store, src);
  return store.images.put(dst, rec.target, { index: rec.index });
}
