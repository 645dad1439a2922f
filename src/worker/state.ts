/**
 * What a vertex produces. `fs` is a root filesystem: a chain of committed snapshots, one per
 * layer, bottom first (empty = scratch); each may already know its layer blob (pulled layers).
 * `dir` is a host directory read in place: the build context, a downloaded file, a git checkout.
 */
import type { LayerRecord } from '../cache/build-cache.ts';

export interface LayerRef {
  /** Committed snapshot holding this layer's filesystem (its parent is the previous ref). */
  snapshot: string;
  /** The layer blob, when known (base-image layers; layers exported before). */
  layer?: LayerRecord;
  /** When the step that made this layer ran (ISO): history times, stable across cached rebuilds. */
  created?: string;
}

export interface FsState {
  kind: 'fs';
  layers: LayerRef[];
}

export interface DirState {
  kind: 'dir';
  dir: string;
  /** Filters of a local source (what the build may read of the directory). */
  excludePatterns: string[];
  includePatterns: string[];
  /** kiln extracted the directory itself and never writes it in place: COPY may link its files. */
  extracted?: boolean;
}

export type BuildState = FsState | DirState;

export const SCRATCH: FsState = Object.freeze({ kind: 'fs', layers: [] }) as FsState;

export function top(state: FsState): string | undefined {
  return state.layers.at(-1)?.snapshot;
}
