/** Choosing a snapshotter: overlayfs when it mounts (root, also in rootless kiln's user namespace; a suitable filesystem), else native copies. */
import { KilnError } from '../errors/errors.ts';
import { NativeSnapshotter } from '../snapshot/native/native.ts';
import { OverlaySnapshotter } from '../snapshot/overlay/overlay.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';

export type SnapshotDriver = 'overlay' | 'native' | 'auto';

/**
 * Open the snapshotter for `driver` under `root` (each driver keeps its own state, so pass a
 * per-driver directory such as `<state>/snapshots/overlay`). 'auto' tries one overlay trial
 * mount when running as root and falls back to native.
 */
export async function openSnapshotter(root: string, driver: SnapshotDriver = 'auto'): Promise<Snapshotter> {
  switch (driver) {
    case 'overlay':
      return OverlaySnapshotter.open(root);
    case 'native':
      return NativeSnapshotter.open(root);
    case 'auto':
      // Root of rootless kiln's own user namespace mounts overlay too (kernel 5.11+, `userxattr`).
      if (process.getuid?.() === 0) {
        try {
          return await OverlaySnapshotter.open(root);
        } catch {
          // Fall through: overlay cannot mount here.
        }
      }
      return NativeSnapshotter.open(root);
    default:
      throw new KilnError('SNAPSHOTTER_UNKNOWN', `unknown snapshotter "${String(driver)}"`, {
        hint: 'Use overlay, native or auto.',
      });
  }
}
