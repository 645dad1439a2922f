/**
 * Pull and push as library calls: `pullImage` resolves a reference, copies the image into a
 * content store and names it; `pushImage` copies any ImageSource to a registry repository.
 */
import type { BlobHolder, BlobProvider, Ingester } from '../content/content.ts';
import { KilnError } from '../errors/errors.ts';
import { type CopyResult, copyImage } from '../image/copy.ts';
import type { ImageSink, ImageSource, ImageStore } from '../image/image.ts';
import { LocalImageSink } from '../imagestore/imagestore.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { formatReference, parseReference, type Reference } from '../reference/reference.ts';
import { RegistryClient } from './client.ts';
import { type PushStats, RegistrySink, type RegistrySinkOptions } from './sink.ts';
import { resolveImage } from './source.ts';

export interface PullOptions {
  client?: RegistryClient;
  /** The platform to pick from an index (default: the host's); 'all' keeps the whole index. */
  platform?: Platform | 'all';
  /** Where blobs go; lease it (Store.withLease) so what the pull finds and writes is kept. */
  content: Ingester & BlobProvider & BlobHolder;
  images: ImageStore;
  onProgress?: ProgressSink;
  /** Blobs downloaded at once (default 4). */
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
  const copy = await copyImage(source, sink, { tag: name, concurrency: opts.concurrency ?? 4 });
  return { name, descriptor: source.root, index, copy };
}

export interface PushOptions extends RegistrySinkOptions {
  client?: RegistryClient;
  concurrency?: number;
}

export interface PushResult {
  /** Where it went, pinned: domain/path:tag@digest. */
  reference: string;
  descriptor: Descriptor;
  stats: PushStats;
}

/** Push an image (e.g. `localImageSource(...)`) to `ref`; children go before their index. */
export async function pushImage(
  source: ImageSource,
  ref: string | Reference,
  opts: PushOptions = {},
): Promise<PushResult> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const client = opts.client ?? new RegistryClient();
  if (r.digest && r.digest !== source.root.digest) {
    throw new KilnError(
      'INVALID_REFERENCE',
      `cannot push ${source.root.digest} to ${formatReference(r)}: a digest reference names other content`,
      {
        hint: 'push to a tag, or to the digest of the image itself',
      },
    );
  }
  const sink = new RegistrySink(client, r, { reopen: (d) => source.blobs.openRead(d), ...opts });
  await copyImage(source, sink, { tag: r.digest ? undefined : r.tag, concurrency: opts.concurrency ?? 4 });
  return {
    reference: formatReference({ ...r, digest: source.root.digest }),
    descriptor: source.root,
    stats: sink.stats,
  };
}
