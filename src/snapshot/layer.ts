/**
 * The snapshotter's bridge to src/archive: layers from an overlay upper dir or a directory
 * pair, and layers unpacked into a snapshot directory.
 */
import type { Readable } from 'node:stream';
import { applyLayer } from '../archive/apply.ts';
import { diffDirectories } from '../archive/diff.ts';
import { diffOverlayUpper, type LayerEntry } from '../archive/entries.ts';

export function diffUpper(upper: string): Promise<LayerEntry[]> {
  return diffOverlayUpper(upper);
}

export function diffDirs(lower: string, upper: string): Promise<LayerEntry[]> {
  return diffDirectories(lower, upper);
}

/** Unpack a layer blob (any compression) into `target`; returns the layer's diffID. */
export async function applyTar(
  target: string,
  layer: Readable,
  whiteouts: 'delete' | 'overlay',
): Promise<string> {
  return (await applyLayer(layer, target, { whiteouts })).diffID;
}
