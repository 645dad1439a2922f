/**
 * What `kiln fsck` checks of working containers: each record's snapshots, lease and directory
 * are there; and what a killed `kiln from` left (a labelled snapshot or a lease of a container
 * that has no record, whose lock nobody holds) is removed.
 */
import { stat } from 'node:fs/promises';
import { WORKING_CONTAINER_LABEL } from '../cache/prune.ts';
import { ContainerLock } from './lock.ts';
import { containerDirs } from './rootfs.ts';
import type { Session } from './session.ts';

export interface ContainersReport {
  checked: number;
  /** Problems that make a container unusable (the store is not sound). */
  problems: string[];
  /** Leftovers of killed `kiln from`s, removed. */
  removed: string[];
}

export async function checkContainers(s: Session): Promise<ContainersReport> {
  const report: ContainersReport = { checked: 0, problems: [], removed: [] };
  const records = await s.records.list();
  const known = new Set(records.map((r) => r.id));
  const leases = new Set(s.store.meta.listLeases().map((l) => l.id));
  for (const rec of records) {
    report.checked++;
    for (const key of [
      rec.anchor,
      ...rec.layers.map((l) => l.snapshot),
      ...rec.base.map((l) => l.snapshot),
    ]) {
      const ok = await s.sn.stat(key).then(
        () => true,
        () => false,
      );
      if (!ok) report.problems.push(`working container ${rec.name}: snapshot ${key} is missing`);
    }
    if (!leases.has(rec.lease))
      report.problems.push(`working container ${rec.name}: lease ${rec.lease} is missing`);
    if (!(await stat(containerDirs(s.records.home(rec.id)).upper).catch(() => undefined)) && !rec.pending)
      report.problems.push(`working container ${rec.name}: its upper dir is missing`);
  }
  const orphans = new Map<string, string[]>();
  for (const snap of await s.sn.list()) {
    const id = snap.labels[WORKING_CONTAINER_LABEL];
    if (id && !known.has(id)) orphans.set(id, [...(orphans.get(id) ?? []), snap.key]);
  }
  for (const l of s.store.meta.listLeases()) {
    const id = l.labels[WORKING_CONTAINER_LABEL];
    if (id && !known.has(id)) orphans.set(id, orphans.get(id) ?? []);
  }
  for (const [id, keys] of orphans) {
    const lock = new ContainerLock(s.records.lockFile(id), 'an unrecorded container');
    try {
      await lock.acquire({ timeoutMs: 0 });
    } catch {
      continue; // a `kiln from` making it right now
    }
    try {
      if (await s.records.read(id)) continue;
      // Children first: each pass removes what has none left.
      for (let left = keys; left.length; ) {
        const next: string[] = [];
        for (const key of left) {
          const gone = await s.sn.remove(key).then(
            () => true,
            () => false,
          );
          if (gone) report.removed.push(`snapshot ${key}`);
          else next.push(key);
        }
        if (next.length === left.length) break;
        left = next;
      }
      for (const l of s.store.meta.listLeases()) {
        if (l.labels[WORKING_CONTAINER_LABEL] === id) {
          s.store.meta.deleteLease(l.id);
          report.removed.push(`lease ${l.id}`);
        }
      }
    } finally {
      lock.release();
    }
  }
  return report;
}
