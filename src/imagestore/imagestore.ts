/**
 * The local image store: names (normalized docker references) → root descriptors in the metadata
 * DB, blobs in the local content store; plus the local store as an ImageSink and ImageSource, so
 * `copyImage(anySource, localSink)` imports anything.
 */
import type { Readable } from 'node:stream';
import type { LocalContentStore } from '../content/local/local.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageRecord, ImageSink, ImageSource, ImageStore } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { normalizeReference } from '../reference/reference.ts';
import type { MetaDB } from '../store/meta.ts';

export class LocalImageStore implements ImageStore {
  private readonly meta: MetaDB;

  constructor(meta: MetaDB) {
    this.meta = meta;
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const row = this.meta.getImage(normalizeReference(name));
    return row ? { name: row.name, target: row.target, updatedAt: row.updatedAt } : undefined;
  }

  async put(name: string, target: Descriptor): Promise<ImageRecord> {
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
    const row = this.meta.putImage(ref, stripDescriptor(target));
    return { name: row.name, target: row.target, updatedAt: row.updatedAt };
  }

  async delete(name: string): Promise<boolean> {
    return this.meta.deleteImage(normalizeReference(name));
  }

  async list(): Promise<ImageRecord[]> {
    return this.meta.listImages().map((r) => ({ name: r.name, target: r.target, updatedAt: r.updatedAt }));
  }

  /** When the name was first pointed at its current target. */
  createdAt(name: string): string | undefined {
    return this.meta.getImage(normalizeReference(name))?.createdAt;
  }
}

/** The descriptor an image record keeps: what identifies the root, without layout annotations. */
function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  return out;
}

/** The local store as a copy destination; blobs go through `content` (lease it for GC safety). */
export class LocalImageSink implements ImageSink {
  private readonly content: LocalContentStore;
  private readonly images: ImageStore;

  constructor(content: LocalContentStore, images: ImageStore) {
    this.content = content;
    this.images = images;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const info = await this.content.info(desc.digest);
    return info !== undefined && info.size === desc.size;
  }

  async putBlob(desc: Descriptor, data: Readable): Promise<void> {
    await this.content.ingest(data, { digest: desc.digest, size: desc.size });
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    await this.content.writeBlob(bytes, { digest: desc.digest, size: desc.size });
    if (tag !== undefined) await this.images.put(tag, desc);
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
