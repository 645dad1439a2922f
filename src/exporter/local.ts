/**
 * type=local: the result's filesystem written into a directory. The image's files are hostile
 * and the directory may hold an earlier export's (a symlink `etc -> /etc` an image planted), so
 * the copy goes into a fresh staging directory inside dest, then is moved into place entry by
 * entry with lstat and rename, which never follow a link in dest's contents.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { chmod, chown, lstat, readdir, rename, rm, unlink, utimes } from '../sys/fs.ts';
import { prepareDirDest } from './dest.ts';

/** One filesystem to export: `sub` names its directory under dest ('' = dest itself). */
export interface LocalPart {
  sub: string;
  /** Copy the filesystem into `into` (an empty directory kiln made), e.g. with `copyTree`. */
  copy(into: string): Promise<void>;
}

/** `cp -a` keeps owners, modes, links, devices and xattrs exactly; Node's fs.cp does not. */
export function copyTree(src: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('cp', ['-a', '--', `${src}/.`, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new KilnError('EXPORT_FAILED', `copying the result to ${dest} failed: ${err.trim()}`)),
    );
  });
}

/** Write every part into `dest` (created if absent; anything but a directory is refused). */
export async function exportLocal(dest: string, parts: LocalPart[]): Promise<void> {
  const root = await prepareDirDest(dest, {
    what: 'the filesystem (type=local)',
    hint: 'pass a directory (new or existing) as dest, or use type=tar for a single file',
  });
  // Inside dest: a copy into an empty directory of our own never meets a link it did not make,
  // and the renames below stay on one filesystem.
  const staging = await mkdtemp(join(root, '.kiln-export-'));
  try {
    for (const part of parts) {
      const into = part.sub ? join(staging, part.sub) : staging;
      if (part.sub) await mkdir(into, { mode: 0o755 });
      await part.copy(into);
    }
    await moveChildren(staging, root);
  } finally {
    // What is left are the emptied shells of merged directories.
    await rm(staging, { recursive: true, force: true });
  }
}

/** Move each entry of `from` over the entry of the same name in `to` (a directory verified by lstat). */
async function moveChildren(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) await moveEntry(join(from, name), join(to, name));
}

/**
 * Put `src` at `dst`. lstat never follows `dst`, rename replaces a link rather than writing
 * through it, and rm removes a directory tree without following links inside it. Only kiln
 * writes below dest while this runs, so what lstat saw is what rename acts on.
 */
async function moveEntry(src: string, dst: string): Promise<void> {
  const have = await lstat(dst).catch(() => undefined);
  if (!have) return rename(src, dst);
  const want = await lstat(src);
  if (want.isDirectory() && have.isDirectory()) {
    // Merge, keeping what dest has beyond the image, then give the directory the image's
    // metadata (not its xattrs: Node has no API for them; a new directory moves with its own).
    await moveChildren(src, dst);
    await chown(dst, want.uid, want.gid);
    await chmod(dst, want.mode & 0o7777);
    await utimes(dst, want.atime, want.mtime);
    return;
  }
  // rename(2) replaces a non-directory in one step; a directory in the way goes first, and a
  // directory cannot be renamed over a file, so the file goes first then.
  if (have.isDirectory()) await rm(dst, { recursive: true, force: true });
  else if (want.isDirectory()) await unlink(dst);
  await rename(src, dst);
}
