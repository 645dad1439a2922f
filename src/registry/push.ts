/** Push as a library call: `pushImage` copies any ImageSource to a registry repository. */
import { KilnError } from '../errors/errors.ts';
import { copyImage } from '../image/copy.ts';
import type { ImageSource } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { formatReference, parseReference, type Reference } from '../reference/reference.ts';
import { RegistryClient } from './client.ts';
import { type PushStats, RegistrySink, type RegistrySinkOptions } from './sink.ts';

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
