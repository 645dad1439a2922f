/**
 * Pull as a library call: `pullImage` resolves a reference, copies the image into a content
 * store and names it (push is `push.ts`).
 */
import type { BlobHolder, BlobProvider, Ingester } from '../content/content.ts';
import { type CopyResult, copyImage } from '../image/copy.ts';
import type { ImageSink, ImageStore } from '../image/image.ts';
import { LocalImageSink } from '../imagestore/imagestore.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { formatReference, parseReference, type Reference } from '../reference/reference.ts';
import { RegistryClient } from './client.ts';
import { resolveImage } from './source.ts';

export interface PullOptions {
  client?: RegistryClient;
  /** The platform to pick from an index (default: the host's); 'all' keeps the whole index. */
  platform?: Platform | 'all';
  /** Where blobs go; lease it (Store.withLease) so what the pull finds and writes is kept. */
  content: Ingester & BlobProvider & BlobHolder;
  images: ImageStore;
  onProgress?: ProgressSink;
  /**
   * Blobs downloaded at once (default 8: an image's layers all start together, where with 4 the
   * fifth of five equal layers ran alone after the first four).
   */
  concurrency?: number;
}

export interface PullResult {
  /** The name the image was stored under, e.g. docker.io/library/busybox:latest (none for digest-only references). */
  name?: string;
  /** What the name points to (the platform's manifest, or the index with platform 'all'). */
  descriptor: Descriptor;
  /** The index the manifest was picked from, when the reference named one. */
  index?: Descriptor;
  copy: CopyResult;
}

const PULL_CONCURRENCY = 8;

/** The content store plus image store as an ImageSink (blobs verified by the Ingester). */
export function contentSink(content: Ingester & BlobProvider & BlobHolder, images: ImageStore): ImageSink {
  return new LocalImageSink(content, images);
}

/**
 * Pull `ref` into the store: blobs already present are held (the caller's lease keeps them until
 * the name is set) and not fetched again. One platform picked from an index is named with that
 * index, which is stored too: a build for another platform finds the image's other manifests
 * through it.
 */
export async function pullImage(ref: string | Reference, opts: PullOptions): Promise<PullResult> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const client = opts.client ?? new RegistryClient();
  const source = await resolveImage(client, r, {
    platform: opts.platform,
    onProgress: opts.onProgress,
    local: opts.content,
  });
  // Local names carry a tag, never a digest; a digest-only pull stays unnamed (held by the caller's lease).
  const name =
    r.tag !== undefined ? formatReference({ domain: r.domain, path: r.path, tag: r.tag }) : undefined;
  const index = source.index;
  if (name && index) {
    const bytes = await source.blobs.readBlob(index.digest);
    await opts.content.writeBlob(bytes, { digest: index.digest, size: index.size });
  }
  const sink = new LocalImageSink(opts.content, opts.images, name && index ? { index } : {});
  const copy = await copyImage(source, sink, {
    tag: name,
    concurrency: opts.concurrency ?? PULL_CONCURRENCY,
  });
  return { name, descriptor: source.root, index, copy };
}
