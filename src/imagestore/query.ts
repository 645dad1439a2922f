/**
 * What the image commands show, as data: list (docker images), inspect (docker image inspect),
 * history, tag and remove. The CLI only formats what these return.
 */
import type { LocalContentStore } from '../content/local/local.ts';
import { type Digest, digestHex } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { loadConfig, loadIndex, loadManifest, resolvePlatformManifest } from '../image/copy.ts';
import type { ImageRecord } from '../image/image.ts';
import type { ContainerConfig, ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Manifest } from '../oci/manifest.ts';
import { isIndexType } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.ts';
import { familiarName, parseReference } from '../reference/reference.ts';
import { ClosureWalker } from '../store/closure.ts';
import { collectGarbage } from '../store/gc.ts';
import type { Store } from '../store/store.ts';
import { imageNotFound } from './imagestore.ts';

type QueryStore = Pick<Store, 'content' | 'images' | 'meta'>;

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

/** Look an image up by name, or by (a prefix of) its ID or root digest as docker does. */
export async function findImage(store: QueryStore, nameOrId: string): Promise<ImageRecord> {
  try {
    const rec = await store.images.get(nameOrId);
    if (rec) return rec;
  } catch {
    // Not a valid reference; it may still be an ID.
  }
  const hex = nameOrId.replace(/^sha256:/, '');
  if (/^[a-f0-9]{4,64}$/.test(hex)) {
    const matches: ImageRecord[] = [];
    for (const rec of await store.images.list()) {
      if (digestHex(rec.target.digest).startsWith(hex)) matches.push(rec);
      else {
        const r = await resolveImage(store.content, rec).catch(() => undefined);
        if (r && digestHex(r.configDigest).startsWith(hex)) matches.push(rec);
      }
    }
    if (matches.length) return matches[0];
  }
  throw imageNotFound(nameOrId);
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

export interface ImageSummary {
  /** Full name, e.g. docker.io/library/busybox:latest. */
  name: string;
  /** docker's REPOSITORY and TAG columns (familiar form). */
  repository: string;
  tag: string;
  id: Digest;
  digest: Digest;
  created?: string;
  /** Bytes of the image's stored content (all stored platforms). */
  size: number;
  platforms: string[];
}

export async function listImages(store: QueryStore): Promise<ImageSummary[]> {
  const walker = new ClosureWalker(store.content);
  const out: ImageSummary[] = [];
  for (const rec of await store.images.list()) {
    const ref = parseReference(rec.name);
    let size = 0;
    for (const s of walker.walk([rec.target]).blobs.values()) size += s;
    const r = await resolveImage(store.content, rec).catch(() => undefined);
    out.push({
      name: rec.name,
      repository: familiarName({ domain: ref.domain, path: ref.path }),
      tag: ref.tag ?? '<none>',
      id: r ? imageId(r) : rec.target.digest,
      digest: rec.target.digest,
      created: r?.config.created,
      size,
      platforms: r?.platforms ?? [],
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
  const sameRoot = (await store.images.list()).filter((x) => x.target.digest === record.target.digest);
  const repoTags = sameRoot.map((x) => familiarName(parseReference(x.name)));
  const repoDigests = [
    ...new Set(
      sameRoot.map((x) => {
        const ref = parseReference(x.name);
        return familiarName({ domain: ref.domain, path: ref.path, digest: record.target.digest });
      }),
    ),
  ];
  const size = [r.manifest.config, ...r.manifest.layers].reduce((n, d) => n + d.size, 0);
  const out: ImageInspect = {
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
    Os: r.config.os,
    Size: size,
    RootFS: { Type: r.config.rootfs?.type ?? 'layers', Layers: r.config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: record.updatedAt },
    Descriptor: record.target,
    Manifest: r.manifestDesc,
    Platforms: r.platforms,
  };
  if (r.config.variant) out.Variant = r.config.variant;
  return out;
}

export interface HistoryRow {
  /** The layer digest this step made, or undefined for steps that changed only config (<missing> in docker). */
  layer?: Digest;
  created?: string;
  createdBy: string;
  /** Bytes of the layer as stored (compressed); 0 for empty steps. */
  size: number;
  comment: string;
  emptyLayer: boolean;
}

/** History newest first, each step matched to the layer it produced. */
export async function imageHistory(
  store: QueryStore,
  nameOrId: string,
  platform?: Platform,
): Promise<HistoryRow[]> {
  const r = await resolveImage(store.content, await findImage(store, nameOrId), platform);
  const layers = [...r.manifest.layers];
  const history = r.config.history ?? [];
  const rows: HistoryRow[] = history.map((h) => {
    const layer = h.empty_layer ? undefined : layers.shift();
    return {
      layer: layer?.digest,
      created: h.created,
      createdBy: h.created_by ?? '',
      size: layer?.size ?? 0,
      comment: h.comment ?? '',
      emptyLayer: Boolean(h.empty_layer),
    };
  });
  // Layers without history entries (some tools write none): still show them.
  for (const l of layers)
    rows.push({ layer: l.digest, createdBy: '', size: l.size, comment: '', emptyLayer: false });
  return rows.reverse();
}

/** `kiln tag SRC DST`: point DST at SRC's root. */
export async function tagImage(store: QueryStore, src: string, dst: string): Promise<ImageRecord> {
  const rec = await findImage(store, src);
  return store.images.put(dst, rec.target);
}

export interface RemoveResult {
  untagged: string[];
  /** Root digests no name points at any more (their content is collected). */
  deleted: Digest[];
  reclaimedBytes: number;
}

/**
 * `kiln rmi`: remove names; an ID removes every name of that image only with `force` when there
 * are several (as docker). Content no name needs is then collected.
 */
export async function removeImages(
  store: QueryStore,
  refs: string[],
  opts: { force?: boolean; noPrune?: boolean } = {},
): Promise<RemoveResult> {
  const untagged: string[] = [];
  const touched = new Set<Digest>();
  for (const ref of refs) {
    let byName: ImageRecord | undefined;
    try {
      byName = await store.images.get(ref);
    } catch {
      byName = undefined;
    }
    const targets = byName
      ? [byName]
      : await (async () => {
          const rec = await findImage(store, ref);
          const all = (await store.images.list()).filter((x) => x.target.digest === rec.target.digest);
          if (all.length > 1 && !opts.force) {
            throw new KilnError(
              'IMAGE_AMBIGUOUS',
              `image ${ref} is referenced by ${all.length} names: ${all.map((x) => x.name).join(', ')}`,
              {
                hint: 'remove the names one by one, or pass --force to remove them all',
              },
            );
          }
          return all;
        })();
    for (const t of targets) {
      if (await store.images.delete(t.name)) {
        untagged.push(t.name);
        touched.add(t.target.digest);
      }
    }
  }
  const still = new Set((await store.images.list()).map((x) => x.target.digest));
  const deleted = [...touched].filter((d) => !still.has(d));
  let reclaimedBytes = 0;
  if (deleted.length && !opts.noPrune) reclaimedBytes = (await collectGarbage(store)).reclaimedBytes;
  return { untagged, deleted, reclaimedBytes };
}
