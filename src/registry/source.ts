/**
 * A repository on a registry as an ImageSource: the resolved root descriptor plus a BlobProvider
 * over HTTP that serves manifests from /manifests/ and everything else from /blobs/, so that
 * `copyImage(registrySource, localSink)` is a pull.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { BlobInfo, BlobProvider } from '../content/content.ts';
import { type Digest, digestAlgorithm, digestMismatch, hashOf } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageSource } from '../image/image.ts';
import { MAX_MANIFEST_BYTES } from '../image/load.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, isManifestType } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, type Platform, selectPlatform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { formatReference, type Reference, referenceTarget } from '../reference/reference.ts';
import type { FetchedManifest, RegistryClient } from './client.ts';
import { parseRegistryJson } from './transport.ts';

/** Reads blobs and manifests of one repository. */
export class RegistryBlobProvider implements BlobProvider {
  readonly client: RegistryClient;
  readonly host: string;
  readonly repository: string;
  private readonly manifests = new Map<Digest, Buffer | undefined>();
  private readonly sizes = new Map<Digest, number>();
  private readonly onProgress?: ProgressSink;

  constructor(client: RegistryClient, host: string, repository: string, onProgress?: ProgressSink) {
    this.client = client;
    this.host = host;
    this.repository = repository;
    this.onProgress = onProgress;
  }

  /** Remember a manifest's bytes (and learn the digests and sizes it points to). */
  learn(desc: Descriptor, bytes?: Buffer): void {
    this.manifests.set(desc.digest, bytes ?? this.manifests.get(desc.digest));
    this.sizes.set(desc.digest, desc.size);
    if (!bytes) return;
    let doc: ReturnType<typeof parseManifestDocument>;
    try {
      doc = parseManifestDocument(bytes, desc.mediaType);
    } catch {
      return;
    }
    if (doc.kind === 'index') {
      for (const c of doc.index.manifests) {
        this.sizes.set(c.digest, c.size);
        if (isIndexType(c.mediaType) || isManifestType(c.mediaType))
          this.manifests.set(c.digest, this.manifests.get(c.digest));
      }
    } else {
      for (const l of [doc.manifest.config, ...doc.manifest.layers]) this.sizes.set(l.digest, l.size);
    }
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    if (this.manifests.has(digest)) {
      const d = await this.client.headManifest(this.host, this.repository, digest);
      return d ? { digest, size: d.size } : undefined;
    }
    const size = await this.client.blobSize(this.host, this.repository, digest);
    return size === undefined ? undefined : { digest, size };
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    if (this.manifests.has(digest)) {
      let bytes = this.manifests.get(digest);
      if (!bytes) {
        bytes = (await this.client.getManifest(this.host, this.repository, digest)).bytes;
        this.learn({ mediaType: '', digest, size: bytes.length }, bytes);
      }
      return bytes;
    }
    // Read into memory no more than the descriptor said (a registry may send an endless body).
    const known = this.sizes.get(digest);
    const max = known ?? MAX_MANIFEST_BYTES;
    const chunks: Buffer[] = [];
    let n = 0;
    const body = this.client.openBlob(this.host, this.repository, digest, known);
    for await (const c of body) {
      n += (c as Buffer).length;
      if (n > max) {
        body.destroy();
        throw new KilnError(
          'SIZE_MISMATCH',
          `blob ${digest} from ${this.host}/${this.repository} is longer than the ${max} bytes expected`,
          { hint: 'the registry served corrupted or tampered content' },
        );
      }
      chunks.push(c as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const actual = hashOf(digestAlgorithm(digest), bytes);
    if (actual !== digest) {
      throw digestMismatch(`blob ${digest} from ${this.host}/${this.repository}`, digest, actual, {
        hint: 'the registry served corrupted or tampered content',
      });
    }
    return bytes;
  }

  async openRead(digest: Digest): Promise<Readable> {
    if (this.manifests.has(digest)) return Readable.from([await this.readBlob(digest)]);
    const total = this.sizes.get(digest);
    // Progress is counted by the download itself: a counting stream between it and the store
    // cost every 64 KiB chunk another pass through a stream.
    const progress = this.onProgress
      ? new ProgressCounter(digest, total, this.onProgress, 'pulling')
      : undefined;
    return this.client.openBlob(this.host, this.repository, digest, total, progress);
  }
}

/** Emits StatusEvents with byte counts as data flows (at most every 100 ms, and at the end). */
export class ProgressCounter {
  private current = 0;
  private last = 0;
  private readonly id: Digest;
  private readonly total?: number;
  private readonly sink: ProgressSink;
  private readonly verb: string;

  constructor(id: Digest, total: number | undefined, sink: ProgressSink, verb: string) {
    this.id = id;
    this.total = total;
    this.sink = sink;
    this.verb = verb;
  }

  add(n: number): void {
    this.current += n;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.report(now);
  }

  done(): void {
    this.report(Date.now(), true);
  }

  private report(at: number, done?: true): void {
    this.sink({
      type: 'status',
      id: this.id,
      name: `${this.verb} ${this.id.slice(7, 19)}`,
      current: this.current,
      total: this.total,
      ...(done ? { done } : {}),
      at,
    });
  }
}

/** ProgressCounter as a pass-through stream (push counts what it uploads this way). */
export class ByteCounter extends Transform {
  private readonly counter: ProgressCounter;

  constructor(id: Digest, total: number | undefined, sink: ProgressSink, verb: string) {
    super();
    this.counter = new ProgressCounter(id, total, sink, verb);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.counter.add(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.counter.done();
    cb();
  }
}

export interface ResolveOptions {
  /**
   * Pick this platform's manifest from an index (the source's root becomes that manifest);
   * `'all'` keeps the index as root. Default: the host platform.
   */
  platform?: Platform | 'all';
  onProgress?: ProgressSink;
  /**
   * A local store: a tag is first resolved with HEAD (not counted by Docker Hub's pull limits)
   * and a manifest already held locally is not downloaded again.
   */
  local?: BlobProvider;
}

/** A registry image as an ImageSource, with the index it was picked from (if any). */
export class RegistrySource implements ImageSource {
  readonly root: Descriptor;
  readonly blobs: RegistryBlobProvider;
  readonly ref: Reference;
  /** The index the root was picked from, when the reference named an index. */
  readonly index?: Descriptor;

  constructor(ref: Reference, root: Descriptor, blobs: RegistryBlobProvider, index?: Descriptor) {
    this.ref = ref;
    this.root = root;
    this.blobs = blobs;
    this.index = index;
  }
}

/** The manifest a reference names, from the local store when a HEAD shows it is held there. */
async function fromLocal(
  client: RegistryClient,
  ref: Reference,
  local: BlobProvider,
): Promise<FetchedManifest | undefined> {
  let desc: Descriptor | undefined;
  try {
    desc = ref.digest ? undefined : await client.headManifest(ref.domain, ref.path, referenceTarget(ref));
  } catch {
    return undefined; // some registries refuse HEAD; GET decides
  }
  const digest = ref.digest ?? desc?.digest;
  if (!digest) return undefined;
  const info = await local.info(digest);
  if (!info) return undefined;
  const bytes = await local.readBlob(digest);
  const mediaType =
    desc?.mediaType ??
    (parseRegistryJson(bytes, `manifest ${digest}`) as { mediaType?: string } | null)?.mediaType;
  if (!mediaType) return undefined;
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
}

/**
 * Resolve a reference on its registry (mirrors first) to a RegistrySource. Schema 1 images are
 * rejected (UNSUPPORTED_SCHEMA1); an index without the platform gives PLATFORM_NOT_FOUND.
 */
export async function resolveImage(
  client: RegistryClient,
  ref: Reference,
  opts: ResolveOptions = {},
): Promise<RegistrySource> {
  const blobs = new RegistryBlobProvider(client, ref.domain, ref.path, opts.onProgress);
  const fetched =
    (opts.local && (await fromLocal(client, ref, opts.local))) ||
    (await client.getManifest(ref.domain, ref.path, referenceTarget(ref)));
  const doc = parseManifestDocument(fetched.bytes, fetched.descriptor.mediaType);
  blobs.learn(fetched.descriptor, fetched.bytes);
  const want = opts.platform;
  if (doc.kind === 'manifest' || want === 'all') return new RegistrySource(ref, fetched.descriptor, blobs);
  const platform = want ?? hostPlatform();
  const candidates = doc.index.manifests.filter((c) => isManifestType(c.mediaType));
  const pick = selectPlatform(platform, candidates);
  if (!pick) {
    const offered = candidates.map((c) => (c.platform ? formatPlatform(c.platform) : 'unknown')).join(', ');
    throw new KilnError(
      'PLATFORM_NOT_FOUND',
      `${formatReference(ref)} has no image for ${formatPlatform(platform)} (offers: ${offered || 'none'})`,
      {
        hint: 'choose one of the offered platforms with --platform',
      },
    );
  }
  return new RegistrySource(ref, pick, blobs, fetched.descriptor);
}
