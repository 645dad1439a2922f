/**
 * Mounting snapshot mounts on the host with mount(8)/umount(8), started from the fork server
 * (sys/forkserver.ts). Overlay options longer than a page (deep parent chains) are shortened as
 * containerd does: the lowerdirs are made relative to their common parent directory and mount
 * runs with that directory as its working directory.
 */
import path from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { execShort } from '../sys/forkserver.ts';
import type { Mount } from './snapshotter.ts';

/** The kernel copies at most one page of mount data, including the terminating NUL. */
const MAX_MOUNT_DATA = 4095;

/** Mount `mounts` in order on `target` (all of them on the same target, like containerd's MountAll). */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) await mountOne(m, target);
}

async function mountOne(m: Mount, target: string): Promise<void> {
  if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
    const rec = m.options.includes('rbind') ? '--rbind' : '--bind';
    await exec('mount', [rec, m.source, target], undefined, m, target);
    // A bind mount ignores ro on creation; it takes a remount.
    if (m.options.includes('ro')) {
      await exec('mount', ['-o', 'remount,bind,ro', target], undefined, m, target);
    }
    return;
  }
  let options = m.options.join(',');
  let cwd: string | undefined;
  if (m.type === 'overlay' && options.length > MAX_MOUNT_DATA) {
    ({ options, cwd } = compactLowerdirs(m.options));
    if (options.length > MAX_MOUNT_DATA) {
      throw new KilnError(
        'MOUNT_OPTIONS_TOO_LONG',
        `overlay mount options are ${options.length} bytes even with relative lowerdirs`,
        {
          hint: 'The parent chain is too deep for one overlay mount; squash some layers.',
        },
      );
    }
  }
  await exec('mount', ['-t', m.type, '-o', options, m.source, target], cwd, m, target);
}

/** Rewrite lowerdir=/a/b/1/fs:/a/b/2/fs as lowerdir=1/fs:2/fs relative to /a/b. */
export function compactLowerdirs(options: string[]): { options: string; cwd: string } {
  const lower = options.find((o) => o.startsWith('lowerdir='));
  if (!lower) return { options: options.join(','), cwd: '/' };
  const dirs = lower.slice('lowerdir='.length).split(':');
  let common = path.dirname(dirs[0]);
  for (const d of dirs) {
    while (common !== '/' && !d.startsWith(common + '/')) common = path.dirname(common);
  }
  const rel = dirs.map((d) => path.relative(common, d));
  const out = options.map((o) => (o === lower ? `lowerdir=${rel.join(':')}` : o));
  return { options: out.join(','), cwd: common };
}

/** Unmount `target`; busy mounts are retried briefly, then detached lazily. */
export async function unmount(target: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await execShort('umount', [target]);
      return;
    } catch (err) {
      const text = String((err as { stderr?: string }).stderr ?? '');
      if (/not mounted|no mount point|not found/i.test(text)) return;
      if (attempt < 20 && /busy/i.test(text)) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (/busy/i.test(text)) {
        await execShort('umount', ['-l', target]);
        return;
      }
      throw new KilnError('UNMOUNT_FAILED', `cannot unmount ${target}: ${text.trim()}`, { cause: err });
    }
  }
}

/** True when `dir` is a mount point (per /proc/self/mountinfo). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const want = path.resolve(dir);
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && unescapeMountPath(mp) === want) return true;
  }
  return false;
}

/** Mount points at or below `dir`, deepest first (per /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const want = path.resolve(dir);
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMountPath(mp);
    if (p === want || p.startsWith(`${want}/`)) out.push(p);
  }
  // Deepest first; the same point mounted twice is listed twice and unmounted twice.
  return out.sort((a, b) => b.split('/').length - a.split('/').length);
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

async function exec(
  cmd: string,
  args: string[],
  cwd: string | undefined,
  m: Mount,
  target: string,
): Promise<void> {
  try {
    await execShort(cmd, args, { cwd });
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    throw new KilnError('MOUNT_FAILED', `cannot mount ${m.type} ${m.source} on ${target}: ${text}`, {
      cause: err,
      hint:
        process.getuid?.() === 0
          ? 'Check dmesg for the kernel reason.'
          : 'Mounting needs root (CAP_SYS_ADMIN): as a non-root user build with --isolation rootless (the default for a user with subordinate ids); in a container without privileges, as root with --isolation chroot.',
    });
  }
}
