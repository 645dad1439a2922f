/**
 * Pruning the build cache (`kiln builder prune`): forget instruction-cache results (all, or
 * those unused for a while), then remove the committed snapshots no remaining result reaches.
 * Snapshots a running build holds (its base layers, cache hits and fresh results, from the
 * moment it finds or makes them; see Snapshotter.hold) stay, and so do their chains.
 */
import { hasCode } from '../errors/errors.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { BuildCache, CachedResult } from './build-cache.ts';

/**
 * Snapshots with this label belong to a working container (`kiln from`), which removes them
 * itself (`kiln rm`); prune keeps them and, through them, the chains they build on.
 */
export const WORKING_CONTAINER_LABEL = 'kiln.working-container';

export interface BuildCachePruneOptions {
  /** Forget every result, not only those unused for `unusedForMs`. */
  all?: boolean;
  /** Default 48 hours. */
  unusedForMs?: number;
  /**
   * Then, while the snapshots left would take more than this many bytes, forget the least
   * recently used results too (`--keep-storage`, BuildKit's keep-bytes).
   */
  keepStorage?: number;
  now?: number;
}

export interface BuildCachePruneResult {
  resultsRemoved: number;
  snapshotsRemoved: number;
  /** Snapshots left because a running build holds them. */
  snapshotsInUse: number;
  bytesFreed: number;
}

export async function pruneBuildCache(
  cache: BuildCache,
  sn: Snapshotter,
  opts: BuildCachePruneOptions = {},
): Promise<BuildCachePruneResult> {
  const now = opts.now ?? Date.now();
  const unusedFor = opts.unusedForMs ?? 48 * 3600_000;
  let resultsRemoved = 0;
  const remaining: { key: string; value: CachedResult; used: number }[] = [];
  for (const r of cache.allResults<CachedResult>()) {
    if (opts.all || now - r.used > unusedFor) {
      cache.deleteResult(r.key);
      resultsRemoved++;
    } else remaining.push(r);
  }
  const all = await sn.list();
  const byKey = new Map(all.map((s) => [s.key, s]));
  // What a set of results keeps: their snapshots, and the parents of those.
  const reached = (results: readonly { value: CachedResult }[]): Set<string> => {
    const keep = new Set<string>();
    for (const r of results) if (r.value.kind === 'fs') for (const l of r.value.layers) keep.add(l.snapshot);
    for (const k of [...keep]) {
      let p = byKey.get(k)?.parent;
      while (p && !keep.has(p)) {
        keep.add(p);
        p = byKey.get(p)?.parent;
      }
    }
    return keep;
  };
  let keep = reached(remaining);
  if (opts.keepStorage !== undefined && remaining.length > 0) {
    // Least recently used first: find the fewest to forget (binary search over that order) for
    // the snapshots the rest keep (and working containers') to fit in keepStorage.
    const sizes = new Map<string, number>();
    for (const s of all)
      if (s.kind === 'committed') sizes.set(s.key, (await sn.usage(s.key).catch(() => ({ size: 0 }))).size);
    const pinned = reached([]);
    for (const s of all) if (s.labels[WORKING_CONTAINER_LABEL]) pinned.add(s.key);
    const kept = (n: number) => {
      const k = reached(remaining.slice(n));
      let bytes = 0;
      for (const [key, size] of sizes) if (k.has(key) || pinned.has(key)) bytes += size;
      return { k, bytes };
    };
    remaining.sort((a, b) => a.used - b.used);
    let lo = 0;
    let hi = remaining.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (kept(mid).bytes <= opts.keepStorage) hi = mid;
      else lo = mid + 1;
    }
    for (const r of remaining.slice(0, lo)) cache.deleteResult(r.key);
    resultsRemoved += lo;
    keep = kept(lo).k;
  }
  let snapshotsRemoved = 0;
  let snapshotsInUse = 0;
  let bytesFreed = 0;
  const left = new Set<string>();
  // Remove unreferenced leaves, then look again: a chain goes from its tip down.
  for (let snapshots = all; ; snapshots = await sn.list()) {
    const parents = new Set(snapshots.map((s) => s.parent));
    const leaves = snapshots.filter(
      (s) =>
        s.kind === 'committed' &&
        !keep.has(s.key) &&
        !left.has(s.key) &&
        !parents.has(s.key) &&
        !s.labels[WORKING_CONTAINER_LABEL],
    );
    if (leaves.length === 0) break;
    for (const s of leaves) {
      const size = (await sn.usage(s.key).catch(() => ({ size: 0 }))).size;
      try {
        await sn.remove(s.key);
      } catch (err) {
        // Held by a running build, given a child since the listing, or removed by another prune.
        if (!hasCode(err, 'SNAPSHOT_IN_USE') && !hasCode(err, 'SNAPSHOT_NOT_FOUND')) throw err;
        if (hasCode(err, 'SNAPSHOT_IN_USE')) snapshotsInUse++;
        left.add(s.key);
        continue;
      }
      bytesFreed += size;
      cache.deleteLayers(s.key);
      snapshotsRemoved++;
    }
  }
  return { resultsRemoved, snapshotsRemoved, snapshotsInUse, bytesFreed };
}
