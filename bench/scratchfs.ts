/**
 * The bench's own filesystem: a fresh ext4 image with a journal, loop-mounted, holding the
 * workloads and every builder's state (kiln's root, buildah's store and dockerd's data root).
 *
 * Why: this VM's root filesystem is ext4 without a journal, where the inode allocator will not
 * reuse an inode freed in the last 60–300 s and checks every such inode on each create
 * (`recently_deleted()` in fs/ext4/ialloc.c). A cold build started after the previous run's
 * state was deleted then spends seconds in the kernel — 2–4x slower, by the luck of which block
 * group it lands in — whichever builder it is. Journaled ext4 (the default everywhere else) has
 * no such rule, so every builder is measured on the same, ordinary filesystem.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';

const IMAGE = '/var/tmp/kiln-bench.img';
const MOUNT = '/mnt/kiln-bench';

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Mount a fresh journaled ext4 at MOUNT; undefined (with the reason printed) when impossible. */
export function mountScratchFs(sizeGiB = 40): string | undefined {
  unmountScratchFs();
  const steps: [string, string[]][] = [
    ['truncate', ['-s', `${sizeGiB}G`, IMAGE]],
    ['mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', IMAGE]],
  ];
  for (const [cmd, args] of steps) {
    const r = sh(cmd, args);
    if (!r.ok) {
      console.log(`bench: no scratch filesystem (${cmd}: ${r.out}); measuring on the root filesystem`);
      return undefined;
    }
  }
  mkdirSync(MOUNT, { recursive: true });
  const m = sh('mount', ['-o', 'loop', IMAGE, MOUNT]);
  if (!m.ok) {
    console.log(`bench: no scratch filesystem (mount: ${m.out}); measuring on the root filesystem`);
    rmSync(IMAGE, { force: true });
    return undefined;
  }
  return MOUNT;
}

export function unmountScratchFs(): void {
  if (existsSync(MOUNT)) sh('umount', ['-l', MOUNT]);
  rmSync(IMAGE, { force: true });
}
