/**
 * Pull and push as library calls: `pullImage` resolves a reference, copies the image into a
 * content store and names it; `pushImage` copies any ImageSource to a registry repository.
 */
import type { Readable } from 'node:stream';
import type { BlobProvider, Ingester } from '../content/content.ts';
import { KilnError } from '../errors/errors.ts';
import { type CopyResult, copyImage } from '../image/copy.ts';
import type { ImageSink, ImageSource, ImageStore } from '../image/image.ts';
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
  content: Ingester & BlobProvider;
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
export function contentSink(content: Ingester & BlobProvider, images: ImageStore): ImageSink {
  return {
    async hasBlob(desc) {
      const info = await content.info(desc.digest);
      return info !== undefined && info.size === desc.size;
    },
    async putBlob(desc, data: Readable) {
      await content.ingest(data, { digest: desc.digest, size: desc.size });
    },
    async putManifest(desc, bytes, tag) {
      await content.writeBlob(bytes, { digest: desc.digest, size: desc.size });
      if (tag !== undefined) await images.put(tag, desc);
    },
  };
}

/** Pull `ref` into the store: blobs already present are not fetched again. */
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
  const copy = await copyImage(source, contentSink(opts.content, opts.images), {
    tag: name,
    concurrency: opts.concurrency ?? 4,
  });
  return { name, descriptor: source.root, index: source.index, copy };
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
