/**
 * The snapshotter's bridge to src/archive: diffs of upper dirs or directory pairs, and layer
 * unpacking. diffDirectories/applyLayer are still being written in src/archive.
 */
import type { Readable } from 'node:stream';
import { diffOverlayUpper, type LayerEntry } from '../archive/entries.ts';
import { KilnError } from '../errors/errors.ts';

export function diffUpper(upper: string): Promise<LayerEntry[]> {
  return diffOverlayUpper(upper);
}

export async function diffDirs(_lower: string, _upper: string): Promise<LayerEntry[]> {
  throw new KilnError('NOT_IMPLEMENTED', 'directory diff is not available yet (archive.diffDirectories)');
}

export async function applyTar(
  _target: string,
  _layer: Readable,
  _whiteouts: 'delete' | 'overlay',
): Promise<void> {
  throw new KilnError('NOT_IMPLEMENTED', 'layer unpacking is not available yet (archive.applyLayer)');
}
