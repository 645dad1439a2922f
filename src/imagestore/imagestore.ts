/**
 * The local image store: names (normalized docker references) → root descriptors in the metadata
 * DB, blobs in the local content store; plus the local store as an ImageSink and ImageSource, so
 * `copyImage(anySource, localSink)` imports anything. An image no name points at any more stays
 * as an unnamed record (names.ts), as docker keeps `<none>:<none>` images.
 */
import type { Readable } from 'node:stream';
import type { BlobHolder, BlobProvider, Ingester } from '../content/content.ts';
import type { LocalContentStore } from '../content/local/local.ts';
import type { ImageRow, MetaDB } from '../content/local/meta.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageRecord, ImageSink, ImageSource, ImageStore, PutOptions } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { normalizeReference } from '../reference/reference.ts';
import { danglingName, isDanglingName } from './names.ts';

export class LocalImageStore implements ImageStore {
  private readonly meta: MetaDB;

  constructor(meta: MetaDB) {
    this.meta = meta;
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const row = this.meta.getImage(normalizeReference(name));
    return row ? toRecord(row) : undefined;
  }

  async put(name: string, target: Descriptor, opts: PutOptions = {}): Promise<ImageRecord> {
    const ref = normalizeReference(name);
    if (ref.includes('@')) {
      throw new KilnError(
        'INVALID_IMAGE_NAME',
        `cannot name an image "${name}": names carry a tag, not a digest`,
        {
          hint: 'use a name such as repo:tag',
        },
      );
    }
    const stripped = stripDescriptor(target);
    const index = opts.index && stripDescriptor(opts.index);
    // Re-setting a name to the image it already names changes nothing else (and, within a
    // minute, writes nothing: a fully cached rebuild).
    const current = this.meta.getImage(ref);
    if (current?.target.digest === target.digest)
      return toRecord(this.meta.putImage(ref, stripped, undefined, index));
    return this.meta.transaction(() => {
      const prev = this.meta.getImage(ref);
      if (opts.keepSameIndex && index && prev?.index?.digest === index.digest) return toRecord(prev);
      const row = this.meta.putImage(ref, stripped, undefined, index);
      // A named image is no longer one of the unnamed; the image the name leaves stays, unnamed,
      // when no other name holds it (docker's <none>:<none> after a rebuild or a newer pull) and
      // it is not another platform of the same pulled index (which keeps it).
      this.meta.deleteImage(danglingName(target.digest));
      if (
        prev &&
        prev.target.digest !== target.digest &&
        !(index && prev.index?.digest === index.digest) &&
        this.meta.imagesByDigest(prev.target.digest).length === 0
      )
        this.meta.putImage(danglingName(prev.target.digest), prev.target);
      return toRecord(row);
    });
  }

  /** Keep an image that no name points at (docker's `<none>:<none>`); nothing to do when a name does. */
  async keepUnnamed(target: Descriptor): Promise<void> {
    if (this.meta.imagesByDigest(target.digest).length > 0) return;
    this.meta.transaction(() => {
      if (this.meta.imagesByDigest(target.digest).length === 0)
        this.meta.putImage(danglingName(target.digest), stripDescriptor(target));
    });
  }

  /** Forget the unnamed record of an image (its content is then GC's). */
  async deleteUnnamed(digest: Descriptor['digest']): Promise<boolean> {
    return this.meta.deleteImage(danglingName(digest));
  }

  async delete(name: string): Promise<boolean> {
    return this.meta.deleteImage(normalizeReference(name));
  }

  /** Every named image (unnamed ones are in `listAll`). */
  async list(): Promise<ImageRecord[]> {
    return this.meta
      .listImages()
      .filter((r) => !isDanglingName(r.name))
      .map(toRecord);
  }

  /** Every record, the unnamed (`<none>@digest`, see names.ts) included. */
  async listAll(): Promise<(ImageRecord & { createdAt: string })[]> {
    return this.meta.listImages().map((r) => ({ ...toRecord(r), createdAt: r.createdAt }));
  }

  /** When the name was first pointed at its current target. */
  createdAt(name: string): string | undefined {
    return this.meta.getImage(normalizeReference(name))?.createdAt;
  }
}

function toRecord(r: ImageRow): ImageRecord {
  const rec: ImageRecord = { name: r.name, target: r.target, updatedAt: r.updatedAt };
  if (r.index) rec.index = r.index;
  return rec;
}

/** The descriptor an image record keeps: what identifies the root, without layout annotations. */
function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  return out;
}

/**
 * The local store as a copy destination; blobs go through `content` (lease it for GC safety).
 * Whatever it reports present is held first (in the lease's hold file), so a concurrent prune
 * cannot take a blob the copy skipped before the image is named.
 */
export class LocalImageSink implements ImageSink {
  private readonly content: Ingester & BlobProvider & BlobHolder;
  private readonly images: ImageStore;
  private readonly put: PutOptions;
  /** The Ingester checks size and digest before it commits a blob (content.ts). */
  readonly verifiesBlobs = true;

  /** `put` says how the root is named (e.g. the index a single platform was picked from). */
  constructor(content: Ingester & BlobProvider & BlobHolder, images: ImageStore, put: PutOptions = {}) {
    this.content = content;
    this.images = images;
    this.put = put;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if ((await this.content.hold([desc.digest])).length > 0) return false;
    const info = await this.content.info(desc.digest);
    return info !== undefined && info.size === desc.size;
  }

  async putBlob(desc: Descriptor, data: Readable): Promise<void> {
    await this.content.ingest(data, { digest: desc.digest, size: desc.size });
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    await this.content.writeBlob(bytes, { digest: desc.digest, size: desc.size });
    if (tag !== undefined) await this.images.put(tag, desc, this.put);
  }
}

/** A named local image as a copy source. Throws IMAGE_NOT_FOUND with a hint. */
export async function localImageSource(
  content: LocalContentStore,
  images: ImageStore,
  name: string,
): Promise<ImageSource & { name: string }> {
  const rec = await images.get(name);
  if (!rec) throw imageNotFound(name);
  return { name: rec.name, root: rec.target, blobs: content };
}

export function imageNotFound(name: string): KilnError {
  return new KilnError('IMAGE_NOT_FOUND', `no image named "${name}" in the local store`, {
    hint: 'list local images with `kiln images`; pull, load or build it first',
  });
}
