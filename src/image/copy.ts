import { type Digest, verifying } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import { formatPlatform, type Platform, platformMatches } from '../oci/platform.ts';
import { runLimited, Semaphore } from '../sys/limit.ts';
import type { ImageSink, ImageSource } from './image.ts';
import { readVerified } from './load.ts';

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
  // One bound on blob transfers for the whole copy: an index's manifests are copied side by
  // side (a multi-platform pull keeps every slot busy instead of draining one platform's tail
  // before the next starts), their blobs sharing these slots.
  const slots = new Semaphore(concurrency);

  const copyBlob = (desc: Descriptor): Promise<void> => {
    let p = inFlight.get(desc.digest);
    if (!p) {
      p = slots.use(async () => {
        if (await dst.hasBlob(desc)) {
          result.skipped++;
          emit({ kind: 'blob', status: 'exists', descriptor: desc });
          return;
        }
        emit({ kind: 'blob', status: 'copying', descriptor: desc });
        const open = async () => {
          const data = await src.blobs.openRead(desc.digest);
          return dst.verifiesBlobs ? data : verifying(data, desc);
        };
        await dst.putBlob(desc, await open(), open);
        result.copied++;
        result.bytes += desc.size;
        emit({ kind: 'blob', status: 'done', descriptor: desc });
      });
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
      await runLimited(children, concurrency, (child) =>
        isIndexType(child.mediaType) || isManifestType(child.mediaType)
          ? copyNode(child, undefined, depth + 1)
          : copyBlob(child),
      );
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
