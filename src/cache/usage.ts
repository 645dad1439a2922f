/**
 * What the build cache holds on disk, as BuildKit's DiskUsage records: one per snapshot (a build
 * step's layer or an unpacked base layer), one per `RUN --mount=type=cache` directory, and one
 * for the cache's own databases and snapshot bookkeeping, so the records add up to every byte of
 * the build cache. A snapshot is reclaimable when `kiln builder prune --all` would remove it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MetadataStore, type SnapshotRecord } from '../snapshot/metadata.ts';
import { type DiskUsage, diskUsage } from '../store/gc.ts';
import type { Store } from '../store/store.ts';
import { TreeUsage } from '../store/usage.ts';
import { isoTime } from '../sys/time.ts';
import { BuildCache, type CachedResult } from './build-cache.ts';

/** Top-level entries of the state root that are build cache (the rest is the image store's). */
export const BUILD_CACHE_ENTRIES = [
  'snapshots',
  'cache-mounts',
  'buildcache.db',
  'context-digests.db',
  'snapshot-digests.db',
];

/** Snapshots younger than this are kept by `builder prune` (cache/prune.ts: a running build's). */
const PRUNE_GRACE_MS = 10 * 60_000;

export interface CacheRecord {
  /** A short stable ID (25 characters, as BuildKit's). */
  id: string;
  /** The snapshot key or cache-mount directory it stands for. */
  key: string;
  parents: string[];
  /** BuildKit's record types: regular (a snapshot), exec.cachemount, internal. */
  type: 'regular' | 'exec.cachemount' | 'internal';
  description: string;
  /** Writable (an active snapshot, a cache mount). */
  mutable: boolean;
  /** Removed by `kiln builder prune --all` (BuildKit: not in use). */
  reclaimable: boolean;
  shared: boolean;
  size: number;
  createdAt?: string;
  lastUsedAt?: string;
  usageCount: number;
}

export interface BuildCacheUsage {
  records: CacheRecord[];
  total: number;
  reclaimable: number;
}

function recordId(key: string): string {
  const m = /^(?:snap|layer)-([0-9a-f-]+)$/.exec(key);
  const hex = m ? m[1].replaceAll('-', '') : createHash('sha256').update(key).digest('hex');
  return hex.slice(0, 25);
}

/** Snapshots `builder prune --all` keeps: uncommitted or young ones, and everything below them. */
function kept(snapshots: SnapshotRecord[], now: number): Set<string> {
  const byKey = new Map(snapshots.map((s) => [s.key, s]));
  const keep = new Set<string>();
  for (const s of snapshots) {
    if (s.kind === 'committed' && now - Date.parse(s.created) > PRUNE_GRACE_MS) continue;
    for (let k: string | undefined = s.key; k && !keep.has(k); k = byKey.get(k)?.parent) keep.add(k);
  }
  return keep;
}

/**
 * The build cache under `root` (the state root), measured with `walker` (share it with the rest
 * of an accounting so hard-linked inodes count once).
 */
export async function buildCacheUsage(
  root: string,
  cache: BuildCache,
  opts: { walker?: TreeUsage; now?: number } = {},
): Promise<BuildCacheUsage> {
  const walker = opts.walker ?? new TreeUsage();
  const now = opts.now ?? Date.now();
  const snRoot = join(root, 'snapshots');
  const snapshots = (await list(snRoot)).sort((a, b) => a.created.localeCompare(b.created));
  const use = new Map<string, { used: number; count: number }>();
  for (const r of cache.allResults<CachedResult>()) {
    if (r.value.kind !== 'fs') continue;
    for (const l of r.value.layers) {
      const u = use.get(l.snapshot) ?? { used: 0, count: 0 };
      use.set(l.snapshot, { used: Math.max(u.used, r.used), count: u.count + 1 });
    }
  }
  const keep = kept(snapshots, now);
  const records: CacheRecord[] = [];
  const byId = new Map<string, SnapshotRecord>();
  // Oldest first: an inode a newer layer hard-links from an older one belongs to the older.
  for (const s of snapshots) {
    byId.set(s.id, s);
    const u = use.get(s.key);
    records.push({
      id: recordId(s.key),
      key: s.key,
      parents: s.parent ? [recordId(s.parent)] : [],
      type: 'regular',
      description: s.key.startsWith('layer-') ? `base image layer ${s.key.slice(6, 18)}` : 'build step',
      mutable: s.kind !== 'committed',
      reclaimable: !keep.has(s.key),
      shared: false,
      size: walker.bytes(join(snRoot, 'snapshots', s.id)),
      createdAt: s.created,
      lastUsedAt: u ? isoTime(u.used) : undefined,
      usageCount: u?.count ?? 0,
    });
  }
  const mountsDir = join(root, 'cache-mounts');
  for (const name of entries(mountsDir)) {
    const p = join(mountsDir, name);
    records.push({
      id: recordId(name),
      key: name,
      parents: [],
      type: 'exec.cachemount',
      description: 'cache mount (RUN --mount=type=cache)',
      mutable: true,
      // `kiln builder prune` keeps cache mounts.
      reclaimable: false,
      shared: false,
      size: walker.bytes(p),
      createdAt: isoTime(statSync(p).mtimeMs),
      usageCount: 0,
    });
  }
  // Bookkeeping: the databases, snapshot metadata, directories, and snapshot directories no
  // record claims (a crash's leftovers, removed when a snapshotter next opens).
  let internal = walker.entry(mountsDir);
  for (const name of BUILD_CACHE_ENTRIES) {
    if (name !== 'snapshots' && name !== 'cache-mounts') internal += walker.bytes(join(root, name));
  }
  for (const name of entries(snRoot)) {
    if (name !== 'snapshots') internal += walker.bytes(join(snRoot, name));
  }
  const snDir = join(snRoot, 'snapshots');
  internal += walker.entry(snDir);
  for (const id of entries(snDir)) if (!byId.has(id)) internal += walker.bytes(join(snDir, id));
  internal += walker.entry(snRoot);
  records.push({
    id: 'internal',
    key: '',
    parents: [],
    type: 'internal',
    description: 'build cache databases and snapshot metadata',
    mutable: false,
    reclaimable: false,
    shared: false,
    size: internal,
    usageCount: 0,
  });
  const total = records.reduce((n, r) => n + r.size, 0);
  const reclaimable = records.filter((r) => r.reclaimable).reduce((n, r) => n + r.size, 0);
  return { records, total, reclaimable };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The snapshot records, read as the snapshotter keeps them (both drivers share the layout). */
async function list(snRoot: string): Promise<SnapshotRecord[]> {
  try {
    statSync(join(snRoot, 'metadata'));
  } catch {
    return [];
  }
  return new MetadataStore(snRoot).list();
}

export interface StoreUsage {
  /** The image store's part: content, metadata and everything not build cache. */
  disk: DiskUsage;
  buildCache: BuildCacheUsage;
  /** Every byte under the state root, as `du -sb` counts it. */
  total: number;
}

/** The whole state root on disk, split into the image store and the build cache, each byte once. */
export async function storeUsage(store: Pick<Store, 'root' | 'content' | 'meta'>): Promise<StoreUsage> {
  const walker = new TreeUsage();
  const cache = new BuildCache(join(store.root, 'buildcache.db'));
  try {
    const buildCache = await buildCacheUsage(store.root, cache, { walker });
    const disk = await diskUsage(store, { exclude: BUILD_CACHE_ENTRIES, walker });
    return { disk, buildCache, total: disk.total + buildCache.total };
  } finally {
    cache.close();
  }
}
