/**
 * The snapshotter's bridge to src/archive: layers from an overlay upper dir or a directory
 * pair, and layers unpacked into a snapshot directory. The archive code loads on first use: a
 * fully cached build neither diffs nor unpacks, and is mostly start-up.
 */
import type { Readable } from 'node:stream';
import type { LayerEntry } from '../archive/entries.ts';

export async function diffUpper(upper: string): Promise<LayerEntry[]> {
  const { diffOverlayUpper } = await import('../archive/entries.ts');
  return diffOverlayUpper(upper);
}

export async function diffDirs(lower: string, upper: string): Promise<LayerEntry[]> {
  const { diffDirectories } = await import('../archive/diff.ts');
  return diffDirectories(lower, upper);
}

/** Unpack a layer blob (any compression) into `target`; returns the layer's diffID. */
export async function applyTar(
  target: string,
  layer: Readable,
  whiteouts: 'delete' | 'overlay',
  /** Overlay mounted with `userxattr` (a user namespace): opaque markers as user.overlay.opaque. */
  userxattr = false,
): Promise<string> {
  const { applyLayer } = await import('../archive/apply.ts');
  return (await applyLayer(layer, target, { whiteouts, userxattr })).diffID;
}
