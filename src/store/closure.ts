/**
 * Reachability over stored blobs: from image roots (and lease-held blobs) through indexes and
 * manifests to configs and layers. Synchronous on purpose: GC runs it inside a `BEGIN IMMEDIATE`
 * transaction so no commit or name change can slip between mark and sweep.
 */
import { readFileSync, statSync } from 'node:fs';
import type { LocalContentStore } from '../content/local/local.ts';
import type { Digest } from '../digest/digest.ts';
import { isErrno } from '../errors/errors.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';

/** A descriptor whose blob is absent. `optional` when an index entry (partial, platform-filtered pulls). */
export interface MissingRef {
  digest: Digest;
  mediaType: string;
  parent?: Digest;
  optional: boolean;
}

export interface Closure {
  /** Present blobs reached, with their sizes. */
  blobs: Map<Digest, number>;
  missing: MissingRef[];
}

/** Largest blob sniffed as a possible manifest when its media type is unknown (lease roots). */
const SNIFF_LIMIT = 4 << 20;

export class ClosureWalker {
  private readonly content: LocalContentStore;
  /** Parsed children per manifest/index digest (shared across walks). */
  private readonly children = new Map<Digest, { kids: Descriptor[]; isIndex: boolean }>();

  constructor(content: LocalContentStore) {
    this.content = content;
  }

  /** Size of a present blob, or undefined. */
  private size(digest: Digest): number | undefined {
    try {
      return statSync(this.content.blobPath(digest)).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  private childrenOf(desc: Descriptor, size: number): { kids: Descriptor[]; isIndex: boolean } {
    const cached = this.children.get(desc.digest);
    if (cached) return cached;
    const known = isIndexType(desc.mediaType) || isManifestType(desc.mediaType);
    let result = { kids: [] as Descriptor[], isIndex: false };
    if (known || (desc.mediaType === '' && size <= SNIFF_LIMIT)) {
      try {
        const bytes = readFileSync(this.content.blobPath(desc.digest));
        if (known || bytes[0] === 0x7b) {
          const doc = parseManifestDocument(bytes, known ? desc.mediaType : undefined);
          result =
            doc.kind === 'index'
              ? { kids: doc.index.manifests, isIndex: true }
              : { kids: [doc.manifest.config, ...doc.manifest.layers], isIndex: false };
        }
      } catch {
        // Not a manifest (a layer or config that starts with "{"), or unreadable: a leaf.
      }
    }
    this.children.set(desc.digest, result);
    return result;
  }

  /** Everything reachable from `roots` (root descriptors; mediaType '' = unknown, sniffed). */
  walk(roots: Descriptor[]): Closure {
    const blobs = new Map<Digest, number>();
    const missing: MissingRef[] = [];
    const seen = new Set<Digest>();
    const visit = (desc: Descriptor, parent: Digest | undefined, optional: boolean) => {
      if (seen.has(desc.digest)) return;
      seen.add(desc.digest);
      const size = this.size(desc.digest);
      if (size === undefined) {
        // Foreign layers live at their URLs, not here.
        if (!desc.urls?.length)
          missing.push({ digest: desc.digest, mediaType: desc.mediaType, parent, optional });
        return;
      }
      blobs.set(desc.digest, size);
      const { kids, isIndex } = this.childrenOf(desc, size);
      for (const k of kids) visit(k, desc.digest, isIndex);
    };
    for (const r of roots) visit(r, undefined, false);
    return { blobs, missing };
  }
}
