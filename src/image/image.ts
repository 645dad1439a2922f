/**
 * Images as sources and sinks. Every backend — the local store, a registry, an OCI layout,
 * a docker tarball, a build result — offers a root descriptor (manifest or index) plus blobs;
 * `copyImage` (image/copy.ts) moves one into another, so "push an archive" is one call.
 */
import type { Readable } from 'node:stream';
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';

/** An image or index and where its blobs come from. */
export interface ImageSource {
  root: Descriptor;
  blobs: BlobProvider;
}

/** Where images go. Blobs first (children before parents), then manifests, then the name. */
export interface ImageSink {
  /** True when the sink already has the blob (skip the upload). */
  hasBlob(desc: Descriptor): Promise<boolean>;
  /**
   * Store a blob (layer or config); the stream yields exactly desc.size bytes of desc.digest.
   * `reopen` reads it again from the start, so a sink whose transfer broke can start over.
   */
  putBlob(desc: Descriptor, data: Readable, reopen?: () => Promise<Readable>): Promise<void>;
  /**
   * True when putBlob itself checks the size (as it reads) and the digest (before it keeps
   * anything): copyImage then hands it the source stream as is instead of hashing it twice.
   */
  readonly verifiesBlobs?: boolean;
  /** Store a manifest or index with its exact bytes; `tag` set for the root only. */
  putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void>;
}

/** A named image record in the local image store. */
export interface ImageRecord {
  /** Normalized reference, e.g. docker.io/library/busybox:latest. */
  name: string;
  target: Descriptor;
  /**
   * The index `target` was picked from, when one platform of a multi-platform image was pulled:
   * its other platforms are found through it (docker's containerd store names the index itself).
   */
  index?: Descriptor;
  /** ISO time the name was last set. */
  updatedAt: string;
}

export interface PutOptions {
  /** The index `target` was picked from (see ImageRecord.index). */
  index?: Descriptor;
  /**
   * Leave the name as it is when it already records this `index` (another platform of the same
   * image was fetched, e.g. by a build for several platforms).
   */
  keepSameIndex?: boolean;
}

export interface ImageStore {
  get(name: string): Promise<ImageRecord | undefined>;
  put(name: string, target: Descriptor, opts?: PutOptions): Promise<ImageRecord>;
  delete(name: string): Promise<boolean>;
  list(): Promise<ImageRecord[]>;
  /** Keep an image no name points at (docker's `<none>:<none>`), as an unnamed build leaves it. */
  keepUnnamed(target: Descriptor): Promise<void>;
}

export type { Digest };
