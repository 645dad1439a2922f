/**
 * Where a blob may already live on a registry: local image names on the same registry (other
 * repositories) whose images contain the blob. A push tries those repositories as cross-repository
 * mount sources; a wrong guess costs one request, as the upload session it opens is reused.
 */
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { ImageStore } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import { parseReference, type Reference } from '../reference/reference.ts';

async function collect(blobs: BlobProvider, desc: Descriptor, out: Set<Digest>, depth = 0): Promise<void> {
  if (depth > 4 || !(isIndexType(desc.mediaType) || isManifestType(desc.mediaType))) return;
  let bytes: Buffer;
  try {
    bytes = await blobs.readBlob(desc.digest);
  } catch {
    return; // parts of an index not held locally
  }
  const doc = parseManifestDocument(bytes, desc.mediaType);
  if (doc.kind === 'index') {
    for (const c of doc.index.manifests) await collect(blobs, c, out, depth + 1);
  } else {
    out.add(doc.manifest.config.digest);
    for (const l of doc.manifest.layers) out.add(l.digest);
  }
}

/** A `mountFrom` answer for pushing to `target`, from the names in the local image store. */
export async function mountSourcesFromNames(
  images: ImageStore,
  blobs: BlobProvider,
  target: Reference,
): Promise<(digest: Digest) => string[]> {
  const byDigest = new Map<Digest, string[]>();
  for (const rec of await images.list()) {
    let r: Reference;
    try {
      r = parseReference(rec.name);
    } catch {
      continue;
    }
    if (r.domain !== target.domain || r.path === target.path) continue;
    const digests = new Set<Digest>();
    await collect(blobs, rec.target, digests);
    for (const d of digests) {
      const list = byDigest.get(d) ?? [];
      if (!list.includes(r.path)) list.push(r.path);
      byDigest.set(d, list);
    }
  }
  return (digest) => (byDigest.get(digest) ?? []).slice(0, 3);
}
