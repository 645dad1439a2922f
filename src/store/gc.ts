/**
 * Garbage collection and disk usage. Mark from image names (and the index a name was picked
 * from) and live leases, sweep every other blob, all inside one `BEGIN IMMEDIATE` transaction;
 * then remove ingest temps whose writer is gone. `prune` optionally drops images first;
 * `diskUsage` reports what the root holds on disk.
 */
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobInfo } from '../content/content.ts';
import type { IngestTemp } from '../content/local/local.ts';
import { imageRoots } from '../content/local/meta.ts';
import { type Digest, isDigest } from '../digest/digest.ts';
import { isErrno } from '../errors/errors.ts';
import { isDanglingName } from '../imagestore/names.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { ClosureWalker } from './closure.ts';
import type { Store } from './store.ts';
import { TreeUsage } from './usage.ts';

export interface GcResult {
  removedBlobs: BlobInfo[];
  removedTemps: IngestTemp[];
  expiredLeases: number;
  reclaimedBytes: number;
}

type GcStore = Pick<Store, 'content' | 'meta'>;

function listBlobsSync(store: GcStore): BlobInfo[] {
  const out: BlobInfo[] = [];
  for (const alg of ['sha256', 'sha512']) {
    let names: string[];
    try {
      names = readdirSync(join(store.content.blobsDir, alg));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    for (const name of names) {
      const digest = `${alg}:${name}`;
      if (!isDigest(digest)) continue;
      try {
        out.push({ digest, size: statSync(join(store.content.blobsDir, alg, name)).size });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
  }
  return out;
}

/** The roots GC keeps: every named image, every blob a live lease or a running operation holds (type unknown). */
function roots(store: GcStore, now: number): Descriptor[] {
  const out: Descriptor[] = imageRoots(store.meta.listImages());
  for (const d of heldBlobs(store, now)) out.push({ mediaType: '', digest: d, size: 0 });
  return out;
}

function heldBlobs(store: GcStore, now?: number): Digest[] {
  return [...store.meta.liveLeaseBlobs(now), ...store.content.heldBlobs()];
}

/**
 * Unlink every blob no root reaches, inside one metadata transaction (joining the caller's), so
 * no other process can name or lease a blob between the mark and the sweep.
 */
function sweep(store: GcStore, now: number, dryRun: boolean): BlobInfo[] {
  return store.meta.transaction(() => {
    const keep = new ClosureWalker(store.content).walk(roots(store, now)).blobs;
    const removed: BlobInfo[] = [];
    for (const b of listBlobsSync(store)) {
      if (keep.has(b.digest)) continue;
      if (!dryRun) {
        try {
          unlinkSync(store.content.blobPath(b.digest));
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
      removed.push(b);
    }
    return removed;
  });
}

/** Remove unreferenced blobs and stale ingest temps. `dryRun` reports without deleting. */
export async function collectGarbage(
  store: GcStore,
  opts: { dryRun?: boolean; now?: number; removedBlobs?: BlobInfo[] } = {},
): Promise<GcResult> {
  const now = opts.now ?? Date.now();
  const expiredLeases = opts.dryRun ? 0 : store.meta.deleteExpiredLeases(now);
  const removedBlobs = opts.removedBlobs ?? sweep(store, now, opts.dryRun ?? false);
  const removedTemps = opts.dryRun ? [] : await store.content.cleanIngests({ now });
  const reclaimedBytes =
    removedBlobs.reduce((n, b) => n + b.size, 0) + removedTemps.reduce((n, t) => n + t.size, 0);
  return { removedBlobs, removedTemps, expiredLeases, reclaimedBytes };
}

export interface PruneOptions {
  /** Also remove images: all of them, or (with keepStorage) the least recently named first. */
  all?: boolean;
  /** Bytes of image content to keep when removing images with `all`. */
  keepStorage?: number;
  dryRun?: boolean;
}

export interface PruneResult extends GcResult {
  removedImages: string[];
}

export async function prune(store: GcStore, opts: PruneOptions = {}): Promise<PruneResult> {
  const removedImages: string[] = [];
  if (opts.all) {
    const walker = new ClosureWalker(store.content);
    // Oldest names first, as buildx prunes the least recently used cache first.
    const images = store.meta.listImages().sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
    const used = (rows: typeof images) => {
      let n = 0;
      for (const s of walker.walk(imageRoots(rows)).blobs.values()) n += s;
      return n;
    };
    let remaining = images;
    while (remaining.length && (opts.keepStorage === undefined || used(remaining) > opts.keepStorage)) {
      removedImages.push(remaining[0].name);
      remaining = remaining.slice(1);
    }
    if (!opts.dryRun) {
      // The names go and their blobs are swept in one transaction: the unlinks free space before
      // the commit writes the deletions, so prune works on a full disk too.
      const now = Date.now();
      const removedBlobs = store.meta.transaction(() => {
        for (const n of removedImages) store.meta.deleteImage(n);
        return sweep(store, now, false);
      });
      return { removedImages, ...(await collectGarbage(store, { now, removedBlobs })) };
    }
  }
  if (opts.dryRun && removedImages.length) {
    // What GC would free once those names are gone: blobs outside the remaining closure.
    const keepNames = new Set(removedImages);
    const keep = new ClosureWalker(store.content).walk([
      ...imageRoots(store.meta.listImages().filter((r) => !keepNames.has(r.name))),
      ...heldBlobs(store).map((d) => ({ mediaType: '', digest: d, size: 0 })),
    ]).blobs;
    const removedBlobs = listBlobsSync(store).filter((b) => !keep.has(b.digest));
    return {
      removedImages,
      removedBlobs,
      removedTemps: [],
      expiredLeases: 0,
      reclaimedBytes: removedBlobs.reduce((n, b) => n + b.size, 0),
    };
  }
  return { removedImages, ...(await collectGarbage(store, { dryRun: opts.dryRun })) };
}

export interface ImageUsage {
  /** The image's first name, or its unnamed record (`<none>@digest`). */
  name: string;
  names: string[];
  digest: Digest;
  /** Bytes of every present blob the image reaches. */
  size: number;
  /** Bytes of blobs reached by this image and no other. */
  unique: number;
  /** size − unique. */
  shared: number;
}

export interface DiskUsage {
  /** One entry per stored image (root), named or not. */
  images: ImageUsage[];
  /** Bytes of blobs reached by two or more images. */
  shared: number;
  /** The content store on disk: blob files, ingest temps and their directories. */
  content: number;
  blobs: number;
  temps: number;
  /** Bytes GC would free now: unreferenced blobs plus ingest temps. */
  reclaimable: number;
  /** Bytes GC would free once every image is removed (`kiln image prune -a`): all but leased blobs. */
  imageReclaimable: number;
  /** meta.db (its transient WAL and shared-memory files are not counted). */
  metadata: number;
  /** Every other top-level entry of the root that `exclude` does not name, by name. */
  other: Record<string, number>;
  /** Everything counted (the root directory itself included): `du -sb` of the root, less `exclude`. */
  total: number;
}

const CONTENT_ENTRIES = new Set(['blobs', 'ingest']);
const METADATA_ENTRIES = new Set(['meta.db']);
/**
 * SQLite's write-ahead log and shared-memory index exist only while a process has a database
 * open (this one does, to measure): they are folded back and removed when the last one closes.
 */
const TRANSIENT = /-(wal|shm)$/;

/**
 * What the state root holds on disk: the content store per image (shared and unique bytes), what
 * GC could free, the metadata database, and every other top-level entry, all measured as `du -sb`
 * does with `walker` (pass the one the caller measures `exclude`d entries with, so an inode
 * linked from both is counted once).
 */
export async function diskUsage(
  store: GcStore,
  opts: { exclude?: string[]; walker?: TreeUsage } = {},
): Promise<DiskUsage> {
  const walker = opts.walker ?? new TreeUsage();
  const closureWalker = new ClosureWalker(store.content);
  const rows = store.meta.listImages();
  const byRoot = new Map<Digest, { names: string[]; target: Descriptor }>();
  for (const r of rows) {
    const entry = byRoot.get(r.target.digest) ?? { names: [], target: r.target };
    entry.names.push(r.name);
    byRoot.set(r.target.digest, entry);
  }
  const stored = [...byRoot.values()];
  const closures = stored.map((r) => closureWalker.walk([r.target]).blobs);
  const users = new Map<Digest, number>();
  for (const c of closures) for (const d of c.keys()) users.set(d, (users.get(d) ?? 0) + 1);
  const images: ImageUsage[] = stored.map((r, i) => {
    let size = 0;
    let unique = 0;
    for (const [d, s] of closures[i]) {
      size += s;
      if (users.get(d) === 1) unique += s;
    }
    const names = r.names.filter((n) => !isDanglingName(n));
    return {
      name: names[0] ?? r.names[0],
      names,
      digest: r.target.digest,
      size,
      unique,
      shared: size - unique,
    };
  });
  const all = listBlobsSync(store);
  const keep = closureWalker.walk(roots(store, Date.now())).blobs;
  const leased = closureWalker.walk(
    store.meta.liveLeaseBlobs().map((d) => ({ mediaType: '', digest: d, size: 0 })),
  ).blobs;
  const temps = await store.content.listIngests();
  let shared = 0;
  let reclaimable = temps.reduce((n, t) => n + t.size, 0);
  let imageReclaimable = reclaimable;
  for (const b of all) {
    if (!keep.has(b.digest)) reclaimable += b.size;
    if (!leased.has(b.digest)) imageReclaimable += b.size;
    if ((users.get(b.digest) ?? 0) > 1) shared += b.size;
  }
  const rootDir = store.content.root;
  const exclude = new Set(opts.exclude ?? []);
  let content = 0;
  let metadata = 0;
  const other: Record<string, number> = {};
  for (const name of readdirSync(rootDir).sort()) {
    if (exclude.has(name) || TRANSIENT.test(name)) continue;
    const bytes = walker.bytes(join(rootDir, name));
    if (CONTENT_ENTRIES.has(name)) content += bytes;
    else if (METADATA_ENTRIES.has(name)) metadata += bytes;
    else other[name] = bytes;
  }
  const self = statSync(rootDir).size;
  const total = self + content + metadata + Object.values(other).reduce((n, b) => n + b, 0);
  return {
    images,
    shared,
    content,
    blobs: all.length,
    temps: temps.length,
    reclaimable,
    imageReclaimable,
    metadata,
    other,
    total,
  };
}
