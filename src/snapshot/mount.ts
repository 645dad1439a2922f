/**
 * Mounting snapshot mounts on the host: mount(2) and umount2(2) made by the mount server
 * (sys/mountserver.ts), or, where it is not available, mount(8) and umount(8) started from the
 * fork server (sys/forkserver.ts). Overlay options longer than a page (deep parent chains) are
 * shortened as containerd does: the lowerdirs are made relative to their common parent directory,
 * which the mount is made from.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { execShort } from '../sys/forkserver.ts';
import * as calls from '../sys/mountserver.ts';
import type { Mount } from './snapshotter.ts';

/** The kernel copies at most one page of mount data, including the terminating NUL. */
const MAX_MOUNT_DATA = 4095;

/** Mount `mounts` in order on `target` (all of them on the same target, like containerd's MountAll). */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) await mountOne(m, target);
}

async function mountOne(m: Mount, target: string): Promise<void> {
  if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
    const rec = m.options.includes('rbind');
    // -c: mount(8) passes the paths as they are (a /proc/<pid>/fd/<n> source stays the
    // descriptor's inode, binds.ts), as mount(2) gets them.
    await mountVia(m, target, { source: m.source, target, flags: calls.MS.BIND | (rec ? calls.MS.REC : 0) }, [
      '-c',
      rec ? '--rbind' : '--bind',
      m.source,
      target,
    ]);
    // A bind mount ignores ro on creation; it takes a remount, which keeps the flags the new
    // mount has from its source (a user namespace may not drop nosuid, nodev or noexec).
    if (m.options.includes('ro')) {
      const remount = calls.MS.REMOUNT | calls.MS.BIND | calls.MS.RDONLY;
      const keep = calls.available() ? await perMountFlags(target) : 0;
      await mountVia(m, target, { target, flags: remount | keep }, ['-c', '-o', 'remount,bind,ro', target]);
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
  const { flags, data } = mountFlags(options.split(','));
  await mountVia(
    m,
    target,
    { source: m.source, target, fstype: m.type, flags, data: data || undefined, cwd },
    ['-t', m.type, '-o', options, m.source, target],
    cwd,
  );
}

/**
 * mount(8)'s generic options as mount(2) flags (libmount's table): the option that sets each
 * flag and the one that clears it; every other option is the filesystem's own and goes in the
 * data, in order.
 */
const FLAG_PAIRS: [set: string, clear: string, flag: number][] = [
  ['ro', 'rw', calls.MS.RDONLY],
  ['nosuid', 'suid', calls.MS.NOSUID],
  ['nodev', 'dev', calls.MS.NODEV],
  ['noexec', 'exec', calls.MS.NOEXEC],
  ['sync', 'async', calls.MS.SYNCHRONOUS],
  ['dirsync', '', calls.MS.DIRSYNC],
  ['mand', 'nomand', calls.MS.MANDLOCK],
  ['noatime', 'atime', calls.MS.NOATIME],
  ['nodiratime', 'diratime', calls.MS.NODIRATIME],
  ['relatime', 'norelatime', calls.MS.RELATIME],
  ['strictatime', 'nostrictatime', calls.MS.STRICTATIME],
  ['lazytime', 'nolazytime', calls.MS.LAZYTIME],
  ['nosymfollow', 'symfollow', calls.MS.NOSYMFOLLOW],
  ['silent', 'loud', calls.MS.SILENT],
];
const FLAG_OPTIONS = new Map<string, [set: number, clear: number]>([
  ['defaults', [0, 0]],
  ...FLAG_PAIRS.flatMap(([set, clear, flag]): [string, [number, number]][] => [
    [set, [flag, 0]],
    ...(clear ? [[clear, [0, flag]] as [string, [number, number]]] : []),
  ]),
]);

/** Split mount options into mount(2)'s flags and the filesystem's data string. */
export function mountFlags(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o === '') continue;
    const f = FLAG_OPTIONS.get(o);
    if (f) flags = (flags | f[0]) & ~f[1];
    else data.push(o);
  }
  return { flags, data: data.join(',') };
}

/** The per-mount options a bind remount must keep (a user namespace may not drop them). */
const KEPT_ON_REMOUNT = new Set(['nosuid', 'nodev', 'noexec', 'nosymfollow']);

/** The flags of those options that the mount at `target` (the one on top) has. */
async function perMountFlags(target: string): Promise<number> {
  const want = path.resolve(target);
  const top = (await mountTable()).findLast((e) => e.point === want);
  return mountFlags(top?.options.filter((o) => KEPT_ON_REMOUNT.has(o)) ?? []).flags;
}

/** The value of mount option `name` (an overlay's upperdir, workdir…) among `options`, if any. */
export function optionValue(options: readonly string[], name: string): string | undefined {
  const prefix = `${name}=`;
  return options.find((o) => o.startsWith(prefix))?.slice(prefix.length);
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

export interface UnmountOptions {
  /**
   * Nothing waits for this unmount: its teardown (the kernel's, in the process that unmounts)
   * runs at the lowest priority, on CPU the build leaves idle (mount server only).
   */
  background?: boolean;
}

/**
 * Unmount `target`; busy mounts are retried briefly, then detached lazily. Not mounted (or gone)
 * is done. A symlink at `target` is not followed (the mount server's umount2 gets
 * UMOUNT_NOFOLLOW): only a mount kiln made there is removed.
 */
export async function unmount(target: string, opts: UnmountOptions = {}): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const why = await unmountOnce(target, false, opts);
    if (why === 'done' || why === 'not mounted') return;
    if (attempt < 20 && why === 'busy') {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    if (why === 'busy') {
      const lazy = await unmountOnce(target, true, opts);
      if (lazy === 'done' || lazy === 'not mounted') return;
      throw new KilnError('UNMOUNT_FAILED', `cannot unmount ${target}: ${lazy}`);
    }
    throw new KilnError('UNMOUNT_FAILED', `cannot unmount ${target}: ${why}`);
  }
}

/** One unmount: 'done', 'not mounted', 'busy', or the failure's text. */
async function unmountOnce(target: string, lazy: boolean, opts: UnmountOptions): Promise<string> {
  if (calls.available()) {
    try {
      const flags = calls.UMOUNT_NOFOLLOW | (lazy ? calls.MNT_DETACH : 0);
      await calls.umount(target, flags, opts.background ? 19 : undefined);
      return 'done';
    } catch (err) {
      if (!(err instanceof calls.MountCallError)) throw err;
      if (err.code === 'EINVAL' || err.code === 'ENOENT') return 'not mounted';
      return err.code === 'EBUSY' ? 'busy' : err.message;
    }
  }
  try {
    await execShort('umount', lazy ? ['-l', target] : [target]);
    return 'done';
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? '').trim();
    if (/not mounted|no mount point|not found/i.test(text)) return 'not mounted';
    return /busy/i.test(text) ? 'busy' : text;
  }
}

/** True when `dir` is a mount point (per /proc/self/mountinfo). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const want = path.resolve(dir);
  return (await mountTable()).some((e) => e.point === want);
}

/** Mount points at or below `dir`, deepest first (per /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const want = path.resolve(dir);
  const out = (await mountTable()).map((e) => e.point).filter((p) => p === want || p.startsWith(`${want}/`));
  // Deepest first; the same point mounted twice is listed twice and unmounted twice.
  return out.sort((a, b) => b.split('/').length - a.split('/').length);
}

/** This process's mounts in mount order: each one's point (unescaped) and per-mount options. */
async function mountTable(): Promise<{ point: string; options: string[] }[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out: { point: string; options: string[] }[] = [];
  for (const line of info.split('\n')) {
    const fields = line.split(' ');
    if (fields[4]) out.push({ point: unescapeMountPath(fields[4]), options: (fields[5] ?? '').split(',') });
  }
  return out;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** One mount(2): by the mount server, or as mount(8) with `command` where it is not available. */
async function mountVia(
  m: Mount,
  target: string,
  call: calls.MountCall,
  command: string[],
  cwd?: string,
): Promise<void> {
  try {
    if (calls.available()) await calls.mount(call);
    else await execShort('mount', command, { cwd });
  } catch (err) {
    const text =
      err instanceof calls.MountCallError
        ? err.message
        : String((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    throw new KilnError('MOUNT_FAILED', `cannot mount ${m.type} ${m.source} on ${target}: ${text}`, {
      cause: err,
      hint:
        process.getuid?.() === 0
          ? 'Check dmesg for the kernel reason.'
          : 'Mounting needs root (CAP_SYS_ADMIN): as a non-root user build with --isolation rootless (the default for a user with subordinate ids); in a container without privileges, as root with --isolation chroot.',
    });
  }
}
