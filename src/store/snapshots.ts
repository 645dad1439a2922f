/** Choosing a snapshotter: overlayfs when it mounts (root, a suitable filesystem), else native copies. */
import { KilnError } from '../errors/errors.ts';
import { inOwnUserNamespace } from '../isolation/mode.ts';
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
      // Root in rootless kiln's own user namespace could mount overlay (kernel 5.11+), but layers
      // unpack with trusted.overlay.* xattrs, which only the host's root may set: native there.
      if (process.getuid?.() === 0 && !inOwnUserNamespace()) {
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
