/**
 * Merge ops (COPY --link): the layers of several states stacked in order. The result reuses the
 * first input's chain and re-applies each later layer's diff on top, so every snapshot still has
 * one parent; the re-applied diffs are byte-identical, so their layer blobs are the same.
 */
import { randomUUID } from 'node:crypto';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { JobContext } from '../solver/solver.ts';
import { materialize } from './materialize.ts';
import { type BuildState, type FsState, top } from './state.ts';

export async function mergeStates(sn: Snapshotter, inputs: BuildState[], ctx: JobContext): Promise<FsState> {
  const states: FsState[] = [];
  for (const s of inputs) states.push(await materialize(sn, s));
  const [first, ...rest] = states;
  const out: FsState = { kind: 'fs', layers: [...first.layers] };
  for (const s of rest) {
    for (const ref of s.layers) {
      ctx.signal.throwIfAborted();
      const { createLayer, nonEmpty } = await import('../archive/layer.ts');
      const entries = await nonEmpty(await sn.diff(ref.snapshot));
      if (entries === undefined) continue;
      const key = `merge-${randomUUID()}`;
      const layer = createLayer(entries, { compression: 'uncompressed', presorted: true });
      await sn.applyLayerAsSnapshot(top(out), layer.stream, key);
      // Same entries give the same tar, so a layer blob known for the source fits here too.
      out.layers.push({ snapshot: key, layer: ref.layer, created: ref.created });
    }
  }
  return out;
}
