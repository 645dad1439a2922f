/**
 * A finished RUN's overlay upper dir taken out from under its mount, so that the mount's
 * teardown can wait.
 *
 * Unmounting an overlay frees every inode and dentry it made: 100-120 ms after W3's
 * `apt-get install`, 30-55 ms after its `npm ci`, and that was on the build's path, since the
 * next step mounts this upper dir as one of its lowers. It cannot while the old mount lives:
 * overlayfs marks an upper dir in use, and a lowerdir in use is refused with index=on and logged
 * as a kernel warning at every mount otherwise. So the upper dir's entries move into a new
 * directory that takes its name, owner, mode and times: the step after sees the same tree on an
 * inode no mount holds. The old upper and work dirs go aside (into the RUN's bundle) and are
 * removed with it once the unmount, now off the path, is done.
 */
import path from 'node:path';
import { isPortableXattr } from '../../archive/xattr.ts';
import { KilnError } from '../../errors/errors.ts';
import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmdirSync,
  utimesSync,
} from '../../sys/fs.ts';
import * as calls from '../../sys/mountserver.ts';

/** More names than this at the upper dir's root, and the unmount stays on the path (~1 ms a 100). */
const MAX_NAMES = 1000;

/**
 * Move `upper`'s entries into a new directory of the same name, and `upper` itself and `work` (the
 * mount's work dir, made again empty) into `aside`, which must not exist. Only once nothing can
 * write through the mount any more (the RUN's processes are gone). False, with nothing changed,
 * where it cannot be done exactly: the root of the upper dir has attributes of its own (a RUN's
 * `setfattr` on /, which a new directory would lose; overlayfs' own bookkeeping is not the
 * tree's), they cannot be listed (no mount server), it has more than MAX_NAMES entries, or
 * `aside` is on another filesystem. The caller then unmounts first, as before.
 */
export async function detachUpper(upper: string, work: string | undefined, aside: string): Promise<boolean> {
  if (!calls.available()) return false;
  try {
    if ((await calls.listXattrs(upper)).some(isPortableXattr)) return false;
  } catch {
    return false;
  }
  // Each name is a rename on the main thread: a RUN that filled / with names is unmounted as before.
  const names = readdirSync(upper);
  if (names.length > MAX_NAMES) return false;
  const st = lstatSync(upper);
  mkdirSync(aside, { mode: 0o700 });
  const oldUpper = path.join(aside, 'upper');
  try {
    renameSync(upper, oldUpper);
  } catch {
    rmdirSync(aside);
    return false;
  }
  try {
    mkdirSync(upper, { mode: 0o700 });
    // Top-level names only, each a rename in one filesystem: a few dozen, usually.
    for (const name of names) renameSync(path.join(oldUpper, name), path.join(upper, name));
    lchownSync(upper, st.uid, st.gid);
    // mkdir's mode is masked by the umask; the RUN may have left setgid or sticky on /.
    chmodSync(upper, st.mode & 0o7777);
    // Last: each rename into it changed its times.
    utimesSync(upper, st.atime, st.mtime);
    if (work !== undefined) {
      renameSync(work, path.join(aside, 'work'));
      mkdirSync(work, { mode: 0o700 });
    }
  } catch (err) {
    // Half moved: the step fails and its snapshot, which holds whatever moved, is removed.
    throw new KilnError('SNAPSHOT_DETACH_FAILED', `cannot move the RUN's changes out of ${upper}`, {
      cause: err,
    });
  }
  return true;
}
