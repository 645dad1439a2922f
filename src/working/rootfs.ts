/**
 * A working container's root filesystem: an overlay of its snapshot chain (read-only lowers) with
 * an upper and work dir of the container's own under `<root>/containers/<id>/`, so its changes
 * persist across processes (the snapshotter removes a dead process's active snapshots). A commit
 * turns the upper dir into a committed snapshot by one rename.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { isMountPoint, mountAll, unmount } from '../snapshot/mount.ts';
import type { Mount, Snapshotter } from '../snapshot/snapshotter.ts';
import { selfOwner } from '../sys/owner.ts';

export interface ContainerDirs {
  upper: string;
  work: string;
  /** Where `kiln mount` mounts the rootfs. */
  merged: string;
}

export function containerDirs(home: string): ContainerDirs {
  return { upper: join(home, 'upper'), work: join(home, 'work'), merged: join(home, 'merged') };
}

export async function ensureDirs(d: ContainerDirs): Promise<void> {
  for (const dir of [d.upper, d.work]) await mkdir(dir, { recursive: true, mode: 0o755 });
}

export function requireOverlay(sn: Snapshotter): void {
  if (sn.driver !== 'overlay') {
    throw new KilnError(
      'WORKING_NEEDS_OVERLAY',
      `working containers need the overlay snapshotter; this root uses ${sn.driver}`,
      { hint: 'run kiln as root on a filesystem overlayfs supports (ext4, xfs)' },
    );
  }
}

/**
 * The overlay mount of the container: the snapshotter's own mount of a writable snapshot over
 * `top` (its lowerdirs and options, for this kernel), with the container's upper and work dirs
 * in place of the probe snapshot's, which is removed at once.
 */
export async function containerMount(sn: Snapshotter, top: string, dirs: ContainerDirs): Promise<Mount[]> {
  requireOverlay(sn);
  const probe = `wc-probe-${randomBytes(8).toString('hex')}`;
  let mounts: Mount[];
  try {
    mounts = await sn.prepare(probe, top);
  } finally {
    await sn.remove(probe).catch(() => {});
  }
  const m = mounts[0];
  if (mounts.length !== 1 || m.type !== 'overlay') {
    throw new KilnError(
      'WORKING_MOUNT_UNEXPECTED',
      `the snapshotter mounts ${m?.type ?? 'nothing'}, not overlay`,
    );
  }
  const options = m.options.filter((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir='));
  options.push(`upperdir=${dirs.upper}`, `workdir=${dirs.work}`);
  return [{ type: 'overlay', source: 'overlay', options }];
}

/** Mount the container's rootfs on a fresh directory for `fn`, unmounted afterwards. */
export async function withRootfs<T>(
  mounts: Mount[],
  scratchDir: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const me = selfOwner();
  const target = join(scratchDir, `m-${me.pid}-${me.start}-${randomBytes(6).toString('hex')}`);
  await mkdir(target, { recursive: true, mode: 0o700 });
  try {
    await mountAll(mounts, target);
    try {
      return await fn(target);
    } finally {
      await unmount(target);
    }
  } finally {
    await rmdir(target).catch(() => {});
  }
}

/** Mount the rootfs at `dirs.merged` until umount (for `kiln mount`). */
export async function mountMerged(mounts: Mount[], dirs: ContainerDirs): Promise<string> {
  await mkdir(dirs.merged, { recursive: true, mode: 0o755 });
  if (!(await isMountPoint(dirs.merged))) await mountAll(mounts, dirs.merged);
  return dirs.merged;
}

export async function unmountMerged(dirs: ContainerDirs): Promise<boolean> {
  const mounted = await isMountPoint(dirs.merged).catch(() => false);
  if (mounted) await unmount(dirs.merged);
  return mounted;
}

export async function upperEmpty(dirs: ContainerDirs): Promise<boolean> {
  return (await readdir(dirs.upper).catch(() => [])).length === 0;
}

/**
 * Move the upper dir's contents into the (empty) committed snapshot `key`: one rename of the
 * directory onto the snapshot's empty `fs` dir, so a crash leaves them in one place or the other.
 */
export async function moveUpperInto(sn: Snapshotter, key: string, dirs: ContainerDirs): Promise<void> {
  const own = await sn.ownDir(key);
  if (!own) throw new KilnError('WORKING_NEEDS_OVERLAY', 'the snapshotter keeps no upper dirs');
  await rename(dirs.upper, own);
  await mkdir(dirs.upper, { mode: 0o755 });
  // The work dir may hold overlay's leftovers of the old upper; it must be empty for a new mount.
  await rm(dirs.work, { recursive: true, force: true });
  await mkdir(dirs.work, { mode: 0o755 });
}
