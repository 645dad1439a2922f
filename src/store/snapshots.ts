/** Choosing a snapshotter: overlayfs when it mounts (root, also in rootless kiln's user namespace; a suitable filesystem), else native copies. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { DeferredSnapshotter } from '../snapshot/deferred.ts';
import { NativeSnapshotter } from '../snapshot/native/native.ts';
import { OverlaySnapshotter } from '../snapshot/overlay/overlay.ts';
import { ReadOnlySnapshotter } from '../snapshot/readonly.ts';
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

/** The driver an earlier open() recorded under `root` ('' when none has). */
async function recordedDriver(root: string): Promise<string> {
  return (await readFile(join(root, 'driver'), 'utf8').catch(() => '')).trim();
}

/**
 * openSnapshotter(root, driver), put off until the snapshotter is first used
 * (snapshot/deferred.ts) where opening it would make a trial mount: overlay, or 'auto' as root,
 * on a root no driver has been set up in yet. A root set up before opens at once (its trial's
 * outcome is remembered there).
 */
export async function openSnapshotterWhenUsed(
  root: string,
  driver: SnapshotDriver = 'auto',
): Promise<Snapshotter> {
  const trial = driver === 'overlay' || (driver === 'auto' && process.getuid?.() === 0);
  if (!trial || (await recordedDriver(root)) !== '') {
    return openSnapshotter(root, driver);
  }
  return new DeferredSnapshotter(root, 'overlay', () => openSnapshotter(root, driver));
}

/**
 * The snapshots under `root` as they are, read-only (snapshot/readonly.ts): the driver an earlier
 * open() recorded, without its trial mount and clean-up, every change refused with `refuse`. For
 * rootless kiln before it enters its user namespace; a root never opened there has no snapshots
 * to read, so that is refused too.
 */
export async function attachSnapshotter(root: string, refuse: (what: string) => Error): Promise<Snapshotter> {
  const driver = await recordedDriver(root);
  if (driver === 'overlay') return new ReadOnlySnapshotter(OverlaySnapshotter.attach(root), refuse);
  if (driver === 'native') return new ReadOnlySnapshotter(NativeSnapshotter.attach(root), refuse);
  throw refuse(`a snapshot store not yet set up (${root})`);
}
