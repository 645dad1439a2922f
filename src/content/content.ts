/**
 * The content store's roles, containerd-style: read blobs (BlobProvider), write them (Ingester),
 * manage them (ContentManager). Functions take the narrowest role they need.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** What an ingest must match; unknown fields are computed and returned. */
export interface Expected {
  digest?: Digest;
  size?: number;
}

export interface BlobProvider {
  /** Size of a present blob, or undefined when absent. */
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** A stream of the blob's bytes; throws code BLOB_NOT_FOUND when absent. */
  openRead(digest: Digest): Promise<Readable>;
  /** A small blob (manifest, config) read whole and verified against its digest. */
  readBlob(digest: Digest): Promise<Buffer>;
}

export interface Ingester {
  /**
   * Write a stream to a temp file, hashing as it goes; verify size and digest against
   * `expected`; fsync and rename into place. A blob that already exists is a normal outcome.
   * On any error nothing is left under the blob's name.
   */
  ingest(source: Readable | AsyncIterable<Uint8Array>, expected?: Expected): Promise<BlobInfo>;
  /** The same for bytes already in memory (manifests, configs). */
  writeBlob(data: Uint8Array, expected?: Expected): Promise<BlobInfo>;
}

/** Keeping present blobs from GC while an operation uses them. */
export interface BlobHolder {
  /**
   * Hold `digests` for the running operation and return those that are not present (held all
   * the same). A blob reported present stays until the operation ends: a GC that started before
   * the hold has finished.
   */
  hold(digests: readonly Digest[]): Promise<Digest[]>;
}

export interface ContentManager {
  delete(digest: Digest): Promise<boolean>;
  list(): AsyncIterable<BlobInfo>;
}

export interface ContentStore extends BlobProvider, Ingester, ContentManager {}
