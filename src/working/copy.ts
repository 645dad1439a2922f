/**
 * `kiln copy` and `kiln add`: host files (or another container's, or an image's) into the
 * working container, through COPY's root-confined copy: a symlink in the container never leads
 * a write out of its rootfs. `add` also fetches URLs and unpacks local archives, as ADD does.
 */
import { isAbsolute, posix, resolve } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { hostPlatform } from '../oci/platform.ts';
import { withStatePath } from '../worker/mounted.ts';
import { ContainerLock } from './lock.ts';
import type { ContainerRecord } from './record.ts';
import { withRootfs } from './rootfs.ts';
import { rootfsMounts } from './run.ts';
import type { Session } from './session.ts';

export interface CopyOptions {
  /** USER[:GROUP] or UID[:GID], resolved in the container's /etc/passwd and /etc/group. */
  chown?: string;
  /** Octal or symbolic mode. */
  chmod?: string;
  /** Read sources from this working container or image instead of the host. */
  from?: string;
  /** Relative host sources are read from here (default: the working directory). */
  contextDir?: string;
  /** ADD semantics: URLs are fetched, local archives unpacked. */
  add?: boolean;
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

/** Where `dest` is in the container: relative to its WorkingDir, as buildah resolves it. */
function destPath(rec: ContainerRecord, dest: string | undefined): string {
  const wd = rec.config.config?.WorkingDir || '/';
  if (dest === undefined) return `${wd.replace(/\/$/, '')}/`;
  return dest.startsWith('/') ? dest : posix.join(wd, dest) + (dest.endsWith('/') ? '/' : '');
}

export async function copyIntoContainer(
  s: Session,
  rec: ContainerRecord,
  sources: string[],
  dest: string | undefined,
  opts: CopyOptions = {},
): Promise<void> {
  if (sources.length === 0)
    throw new KilnError('COPY_NO_SOURCE', 'nothing to copy', { hint: 'name a source' });
  const { copy, parseChown, addRemote } = await import('../fileops/index.ts');
  const target = destPath(rec, dest);
  const chown = opts.chown ? parseChown(opts.chown) : undefined;
  const mounts = await rootfsMounts(s, rec);
  await withRootfs(mounts, s.records.dir, async (destRoot) => {
    const common = { destRoot, dest: target, chown, chmod: opts.chmod, createDestPath: true };
    const urls = opts.add && !opts.from ? sources.filter(isUrl) : [];
    for (const url of urls) await addRemote(url, { ...common, dirContentsOnly: true });
    const local = sources.filter((p) => !urls.includes(p));
    if (local.length === 0) return;
    if (opts.from) {
      await withSourceRoot(s, rec, opts.from, (srcRoot) =>
        copy({
          ...common,
          srcRoot,
          srcPaths: local,
          followSymlinks: true,
          dirContentsOnly: true,
          allowWildcard: true,
        }),
      );
      return;
    }
    // Host paths: the user's own files, absolute or relative to the context directory.
    const base = resolve(opts.contextDir ?? process.cwd());
    await copy({
      ...common,
      srcRoot: '/',
      srcPaths: local.map((p) =>
        isAbsolute(p) && !opts.contextDir ? p : resolve(base, p.replace(/^\/+/, '')),
      ),
      defaultOwner: { uid: 0, gid: 0 },
      followSymlinks: true,
      dirContentsOnly: true,
      allowWildcard: true,
      unpack: opts.add,
    });
  });
}

/** The root of `--from`: another working container (locked while read) or an image. */
async function withSourceRoot(
  s: Session,
  rec: ContainerRecord,
  from: string,
  fn: (root: string) => Promise<void>,
): Promise<void> {
  const other = await s.records.find(from).catch(() => undefined);
  if (other) {
    if (other.id === rec.id) return withRootfs(await rootfsMounts(s, rec), s.records.dir, fn);
    const lock = new ContainerLock(s.records.lockFile(other.id), `working container "${other.name}"`);
    await lock.acquire(s.lockWait(other.name));
    try {
      const fresh = (await s.records.read(other.id)) ?? other;
      return await withRootfs(await rootfsMounts(s, fresh), s.records.dir, fn);
    } finally {
      lock.release();
    }
  }
  await s.store.withLease(async () => {
    const images = s.baseImages(false);
    const img = await images.resolve(from, rec.platform ?? hostPlatform());
    const state = await images.unpack(img, s.sn);
    await withStatePath(s.sn, state, fn);
  });
}
