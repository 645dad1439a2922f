/**
 * The snapshotter's bridge to src/archive: layers from an overlay upper dir or a directory
 * pair, and layers unpacked into a snapshot directory. The archive code loads on first use: a
 * fully cached build neither diffs nor unpacks, and is mostly start-up.
 */
import type { Readable } from 'node:stream';
import type { LayerEntries } from '../archive/tree-entries.ts';

/** The upper directory's entries, made as the layer is written. */
export async function diffUpper(upper: string): Promise<LayerEntries> {
  const { diffOverlayUpper } = await import('../archive/tree-entries.ts');
  return diffOverlayUpper(upper);
}

/** The pair's differences (one list: the comparison walks both trees before anything is written). */
export async function diffDirs(lower: string, upper: string): Promise<LayerEntries> {
  const { diffDirectories } = await import('../archive/diff.ts');
  const { entriesOf } = await import('../archive/tree-entries.ts');
  return entriesOf(await diffDirectories(lower, upper));
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
