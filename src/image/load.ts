/**
 * Reading an image's small documents from any blob provider, each bounded and verified against
 * its descriptor: manifests, indexes, configs, and the manifest an image has for a platform.
 */
import type { BlobProvider } from '../content/content.ts';
import { digestAlgorithm, digestMismatch, hashOf } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { type Index, type Manifest, parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import { formatPlatform, type Platform, selectPlatform } from '../oci/platform.ts';
import type { ImageSource } from './image.ts';

/** The largest manifest or index read into memory (as registries serve them). */
export const MAX_MANIFEST_BYTES = 16 << 20;
/**
 * The largest image config read into memory: real ones are a few kB (history of ~100 steps),
 * and every stage of a build holds its own copy, so 256 stages stay within 1 GiB.
 */
export const MAX_CONFIG_BYTES = 4 << 20;

/** Read and verify a small blob (manifest, index, config), refused before reading when too large. */
export async function readVerified(
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
