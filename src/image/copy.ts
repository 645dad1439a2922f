/**
 * Copy an image (index → manifests → config + layers) from any ImageSource into any ImageSink,
 * blobs before manifests and children before parents, skipping what the sink has and verifying
 * every digest on the way; plus helpers to read manifests, indexes and configs from a provider.
 */
import type { BlobProvider } from '../content/content.ts';
import { type Digest, digestAlgorithm, digestMismatch, hashOf, verifying } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { type Index, type Manifest, parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import { formatPlatform, type Platform, platformMatches, selectPlatform } from '../oci/platform.ts';
import { runLimited } from '../sys/limit.ts';
import type { ImageSink, ImageSource } from './image.ts';

export interface CopyProgress {
  kind: 'blob' | 'manifest';
  status: 'exists' | 'copying' | 'done';
  descriptor: Descriptor;
}

export interface CopyOptions {
  /** Copy only index children for these platforms (the index itself is kept as is). */
  platforms?: Platform[];
  onProgress?: (event: CopyProgress) => void;
  /** Blobs copied at once (default 4). */
  concurrency?: number;
  /** Name given to the root in the sink (passed to putManifest for the root only). */
  tag?: string;
}

export interface CopyResult {
  root: Descriptor;
  /** Blobs and manifests written to the sink (not counting skipped ones). */
  copied: number;
  skipped: number;
  bytes: number;
}

/** The largest manifest or index read into memory (as registries serve them). */
export const MAX_MANIFEST_BYTES = 16 << 20;
/**
 * The largest image config read into memory: real ones are a few kB (history of ~100 steps),
 * and every stage of a build holds its own copy, so 256 stages stay within 1 GiB.
 */
export const MAX_CONFIG_BYTES = 4 << 20;

/** Read and verify a small blob (manifest, index, config), refused before reading when too large. */
async function readVerified(
  blobs: BlobProvider,
  desc: Descriptor,
  max = MAX_MANIFEST_BYTES,
): Promise<Buffer> {
  if (!(desc.size >= 0 && desc.size <= max)) {
    throw new KilnError(
      max === MAX_CONFIG_BYTES ? 'CONFIG_TOO_LARGE' : 'MANIFEST_TOO_LARGE',
      `${desc.mediaType} ${desc.digest} is ${desc.size} bytes; kiln reads at most ${max}`,
      { hint: 'the image is malformed or hostile; use another image' },
    );
  }
  const bytes = await blobs.readBlob(desc.digest);
  const actual = hashOf(digestAlgorithm(desc.digest), bytes);
  if (actual !== desc.digest || bytes.length !== desc.size) {
    throw digestMismatch(`${desc.mediaType} ${desc.digest}`, desc.digest, actual, {
      detail: `${bytes.length} bytes, descriptor says ${desc.size}`,
      hint: 'the source is corrupt or serves different content than it advertises',
    });
  }
  return bytes;
}

export async function loadManifest(blobs: BlobProvider, desc: Descriptor): Promise<Manifest> {
  const doc = parseManifestDocument(await readVerified(blobs, desc), desc.mediaType);
  if (doc.kind !== 'manifest')
    throw new KilnError('NOT_A_MANIFEST', `${desc.digest} is an index, not an image manifest`);
  return doc.manifest;
}

export async function loadIndex(blobs: BlobProvider, desc: Descriptor): Promise<Index> {
  const doc = parseManifestDocument(await readVerified(blobs, desc), desc.mediaType);
  if (doc.kind !== 'index')
    throw new KilnError('NOT_AN_INDEX', `${desc.digest} is an image manifest, not an index`);
  return doc.index;
}

/** The image config a manifest points to (pass the manifest or its config descriptor). */
export async function loadConfig(
  blobs: BlobProvider,
  manifestOrConfig: Manifest | Descriptor,
): Promise<ImageConfig> {
  const desc = 'config' in manifestOrConfig ? manifestOrConfig.config : manifestOrConfig;
  const bytes = await readVerified(blobs, desc, MAX_CONFIG_BYTES);
  try {
    return JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (cause) {
    throw new KilnError('INVALID_CONFIG', `image config ${desc.digest} is not valid JSON`, { cause });
  }
}

export interface ResolvedManifest {
  descriptor: Descriptor;
  manifest: Manifest;
}

/**
 * The image manifest for `platform`: the root itself when it is a manifest, else the best index
 * entry (nested indexes are searched). Throws PLATFORM_NOT_FOUND listing what the index offers.
 */
export async function resolvePlatformManifest(
  source: ImageSource,
  platform: Platform,
): Promise<ResolvedManifest> {
  const offered: string[] = [];
  const visit = async (desc: Descriptor, depth: number): Promise<ResolvedManifest | undefined> => {
    if (depth > 4) throw new KilnError('INDEX_TOO_DEEP', `index ${desc.digest} nests more than 4 levels`);
    if (!isIndexType(desc.mediaType) && desc.mediaType !== undefined && isManifestType(desc.mediaType)) {
      return { descriptor: desc, manifest: await loadManifest(source.blobs, desc) };
    }
    const doc = parseManifestDocument(await readVerified(source.blobs, desc), desc.mediaType);
    if (doc.kind === 'manifest') return { descriptor: desc, manifest: doc.manifest };
    const children = doc.index.manifests;
    const images = children.filter((c) => isManifestType(c.mediaType));
    for (const c of images) if (c.platform) offered.push(formatPlatform(c.platform));
    const pick = selectPlatform(platform, images);
    if (pick) return { descriptor: pick, manifest: await loadManifest(source.blobs, pick) };
    for (const c of children.filter((x) => isIndexType(x.mediaType))) {
      const found = await visit(c, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  const found = await visit(source.root, 0);
  if (!found) {
    throw new KilnError(
      'PLATFORM_NOT_FOUND',
      `image has no manifest for ${formatPlatform(platform)} (offers: ${offered.join(', ') || 'none'})`,
      {
        hint: 'pick one of the offered platforms with --platform',
      },
    );
  }
  return found;
}

export async function copyImage(
  src: ImageSource,
  dst: ImageSink,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const result: CopyResult = { root: src.root, copied: 0, skipped: 0, bytes: 0 };
  const concurrency = opts.concurrency ?? 4;
  const emit = (e: CopyProgress) => opts.onProgress?.(e);
  // A blob shared by several manifests (same base layers) is copied once.
  const inFlight = new Map<Digest, Promise<void>>();

  const copyBlob = (desc: Descriptor): Promise<void> => {
    let p = inFlight.get(desc.digest);
    if (!p) {
      p = (async () => {
        if (await dst.hasBlob(desc)) {
          result.skipped++;
          emit({ kind: 'blob', status: 'exists', descriptor: desc });
          return;
        }
        emit({ kind: 'blob', status: 'copying', descriptor: desc });
        await dst.putBlob(desc, verifying(await src.blobs.openRead(desc.digest), desc));
        result.copied++;
        result.bytes += desc.size;
        emit({ kind: 'blob', status: 'done', descriptor: desc });
      })();
      inFlight.set(desc.digest, p);
    }
    return p;
  };

  const putManifest = async (desc: Descriptor, bytes: Buffer, tag?: string) => {
    // The root is always (re)written when it carries a name, so the sink records the tag.
    if (tag === undefined && (await dst.hasBlob(desc))) {
      result.skipped++;
      emit({ kind: 'manifest', status: 'exists', descriptor: desc });
      return;
    }
    await dst.putManifest(desc, bytes, tag);
    result.copied++;
    result.bytes += desc.size;
    emit({ kind: 'manifest', status: 'done', descriptor: desc });
  };

  const copyNode = async (desc: Descriptor, tag: string | undefined, depth: number): Promise<void> => {
    if (depth > 4) throw new KilnError('INDEX_TOO_DEEP', `index ${desc.digest} nests more than 4 levels`);
    const bytes = await readVerified(src.blobs, desc);
    const doc = parseManifestDocument(bytes, desc.mediaType);
    if (doc.kind === 'manifest') {
      const m = doc.manifest;
      const blobs = [m.config, ...m.layers].filter((l) => !l.urls?.length || !isForeign(l.mediaType));
      await runLimited(blobs, concurrency, copyBlob);
    } else {
      let children = doc.index.manifests;
      if (opts.platforms?.length) {
        const wanted = opts.platforms;
        children = children.filter(
          (c) => isIndexType(c.mediaType) || wanted.some((w) => platformMatches(w, c.platform)),
        );
        if (!children.length) {
          throw new KilnError(
            'PLATFORM_NOT_FOUND',
            `index ${desc.digest} has no manifest for ${wanted.map(formatPlatform).join(', ')}`,
            {
              hint: 'check the platforms the image offers (kiln image inspect) and adjust --platform',
            },
          );
        }
      }
      for (const child of children) {
        if (isIndexType(child.mediaType) || isManifestType(child.mediaType))
          await copyNode(child, undefined, depth + 1);
        else await copyBlob(child);
      }
    }
    await putManifest(desc, bytes, tag);
  };

  await copyNode(src.root, opts.tag, 0);
  return result;
}

/** Foreign (Windows base) layers are fetched from their URLs by the runtime, never copied. */
function isForeign(mt: string): boolean {
  return mt.includes('.foreign.') || mt.includes('nondistributable');
}
