/**
 * A repository on a registry as an ImageSink (push): blob existence is checked first, blobs known
 * to live in another repository of the same registry are mounted instead of uploaded, manifests
 * go up with their exact bytes, and byte progress is reported.
 */
import { pipeline, type Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import type { ImageSink } from '../image/image.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import type { ProgressSink } from '../progress/events.ts';
import type { Reference } from '../reference/reference.ts';
import type { RegistryClient } from './client.ts';
import { ByteCounter } from './source.ts';

export interface RegistrySinkOptions {
  /**
   * Repositories on the same registry that may hold the blobs (e.g. the base image's), tried as
   * cross-repository mount sources; a function can answer per blob.
   */
  mountFrom?: string[] | ((digest: Digest) => string[]);
  onProgress?: ProgressSink;
  /** Read a blob again from the source, so a broken chunked upload can start over. */
  reopen?: (digest: Digest) => Promise<Readable>;
}

export interface PushStats {
  uploaded: number;
  mounted: number;
  existing: number;
  bytes: number;
}

export class RegistrySink implements ImageSink {
  readonly client: RegistryClient;
  readonly ref: Reference;
  readonly stats: PushStats = { uploaded: 0, mounted: 0, existing: 0, bytes: 0 };
  private readonly opts: RegistrySinkOptions;
  /** Upload sessions a failed mount opened, reused for the upload. */
  private readonly sessions = new Map<Digest, string>();

  constructor(client: RegistryClient, ref: Reference, opts: RegistrySinkOptions = {}) {
    this.client = client;
    this.ref = ref;
    this.opts = opts;
  }

  private mountSources(digest: Digest): string[] {
    const m = this.opts.mountFrom;
    const list = typeof m === 'function' ? m(digest) : (m ?? []);
    return list.filter((r) => r !== this.ref.path);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const { domain, path } = this.ref;
    if (isManifestType(desc.mediaType) || isIndexType(desc.mediaType)) {
      return (await this.client.headManifest(domain, path, desc.digest, true)) !== undefined;
    }
    if ((await this.client.blobSize(domain, path, desc.digest, true)) !== undefined) {
      this.stats.existing++;
      return true;
    }
    // Mounting here means the source blob is never even opened.
    for (const from of this.mountSources(desc.digest)) {
      const r = await this.client.mountBlob(domain, path, desc.digest, from);
      if (r.mounted) {
        this.stats.mounted++;
        this.opts.onProgress?.({
          type: 'status',
          id: desc.digest,
          name: `mounted from ${from}`,
          current: desc.size,
          total: desc.size,
          done: true,
          at: Date.now(),
        });
        return true;
      }
      if (r.location && !this.sessions.has(desc.digest)) this.sessions.set(desc.digest, r.location);
    }
    return false;
  }

  async putBlob(desc: Descriptor, data: Readable, reopen?: () => Promise<Readable>): Promise<void> {
    let input = data;
    if (this.opts.onProgress) {
      // pipeline keeps a listener on the counter until the upload reads it (after its POST).
      input = pipeline(
        data,
        new ByteCounter(desc.digest, desc.size, this.opts.onProgress, 'pushing'),
        () => {},
      );
    }
    const session = this.sessions.get(desc.digest);
    this.sessions.delete(desc.digest);
    const again = this.opts.reopen;
    await this.client.uploadBlob(
      this.ref.domain,
      this.ref.path,
      desc,
      input,
      undefined,
      session,
      reopen ?? (again ? () => again(desc.digest) : undefined),
    );
    this.stats.uploaded++;
    this.stats.bytes += desc.size;
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    await this.client.putManifest(this.ref.domain, this.ref.path, tag ?? desc.digest, bytes, desc.mediaType);
  }
}
