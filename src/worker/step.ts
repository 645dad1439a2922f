/**
 * One build step as a snapshot: a writable snapshot over the base state, the step's work on it,
 * then commit as a new layer. A step that fails leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';
import type { Mount, SnapshotOptions, Snapshotter } from '../snapshot/snapshotter.ts';
import { isoTime } from '../sys/time.ts';
import { type FsState, top } from './state.ts';

export async function commitStep(
  sn: Snapshotter,
  base: FsState,
  prefix: string,
  work: (active: string, mounts: Mount[]) => Promise<void>,
  /** Labels and lineage for the committed snapshot; read at commit time, so `work` may fill them in. */
  commitOpts?: SnapshotOptions,
): Promise<FsState> {
  const active = `${prefix}-${randomUUID()}`;
  // Written once, here, and committed or removed before the build ends: no sync at its unmount.
  const mounts = await sn.prepare(active, top(base), { volatile: true });
  let committed = false;
  try {
    await work(active, mounts);
    const name = `snap-${randomUUID()}`;
    await sn.commit(name, active, commitOpts);
    committed = true;
    // The creation time dates the layer's history entry (stable across cached rebuilds).
    return { kind: 'fs', layers: [...base.layers, { snapshot: name, created: isoTime() }] };
  } finally {
    if (!committed) await sn.remove(active).catch(() => {});
  }
}
