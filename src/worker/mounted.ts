/**
 * Giving host-side code a path to a build state: a `dir` state is its directory; an `fs` state
 * gets a temporary read-only view of its top snapshot, mounted for the duration of a callback.
 */
import { randomUUID } from 'node:crypto';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { type BuildState, top } from './state.ts';

export async function withStatePath<T>(
  sn: Snapshotter,
  state: BuildState,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  if (state.kind === 'dir') return fn(state.dir);
  const key = `view-${randomUUID()}`;
  await sn.view(key, top(state));
  try {
    return await sn.withMounted(key, fn);
  } finally {
    await sn.remove(key).catch(() => {});
  }
}

/** Mount several states at once (nested), e.g. all inputs a file op reads from. */
export async function withStatePaths<T>(
  sn: Snapshotter,
  states: readonly BuildState[],
  fn: (dirs: string[]) => Promise<T>,
): Promise<T> {
  const dirs: string[] = [];
  const step = async (i: number): Promise<T> => {
    if (i === states.length) return fn(dirs);
    return withStatePath(sn, states[i], async (d) => {
      dirs[i] = d;
      return step(i + 1);
    });
  };
  return step(0);
}
