/**
 * What runc would mount, put in place in a chroot's root filesystem and taken out again before
 * the snapshot is taken, so none of it reaches the layer: whatever the image had at a target is
 * moved aside to kiln's scratch directory for the run and moved back after; a cache directory is
 * moved in and back (a rename: same filesystem, both under the state root), an input (another
 * stage, the context) is copied in, a secret or a generated /etc file is copied, a socket is
 * hard-linked, a tmpfs is an empty directory. Missing targets are stubs (runc/stubs.ts), removed
 * when the run left them empty. After the run every path is found again without following a
 * symlink: the RUN may have replaced any of them with a link to the host.
 */
import { spawn } from 'node:child_process';
import {
  constants,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  utimesSync,
} from 'node:fs';
import path from 'node:path';
import { fdPath, type Held, openInRoot, openParentStrict } from '../../confine/fd.ts';
import { KilnError } from '../../errors/errors.ts';
import { chmodSync, chownSync, linkSync, unlinkSync } from '../../sys/fs.ts';
import { mknodSync } from '../../sys/mknod.ts';
import type { ExecMount } from '../executor.ts';
import { StubTracker } from '../runc/stubs.ts';

/** The character devices runc gives every container, as (name, major, minor). */
const DEVICES: [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

/** A path a child process (cp, mknod) reaches through a descriptor this process holds. */
function childFdPath(fd: number, name: string): string {
  return `/proc/${process.pid}/fd/${fd}/${name}`;
}

/** A directory's names, sorted and joined: enough to tell whether the run left it as it was. */
function listing(dir: string): string {
  return readdirSync(dir).sort().join('\0');
}

/** A target's place: for this process (/proc/self/fd/…) and for a child it starts (/proc/<pid>/fd/…). */
interface Place {
  at: string;
  child: string;
}

export class Placements {
  private readonly rootfs: string;
  private readonly scratch: string;
  private readonly stubs: StubTracker;
  private readonly undo: (() => Promise<void>)[] = [];
  private readonly devs: string[] = [];
  /** Directories kiln changes for the run (root-relative): their listing and times before. */
  private readonly dirs = new Map<string, { names: string; atimeMs: number; mtimeMs: number }>();
  private n = 0;

  constructor(rootfs: string, scratch: string) {
    this.rootfs = rootfs;
    this.scratch = scratch;
    this.stubs = new StubTracker(rootfs, undefined);
  }

  /** The usual character devices under /dev where the image has none (removed after the run). */
  devices(): void {
    this.remember('/dev');
    this.stubs.ensure('/dev', 'dir');
    for (const [name, major, minor] of DEVICES) {
      const found = openParentStrict(this.rootfs, `dev/${name}`);
      if (!found) return;
      try {
        if (lstatSync(fdPath(found.dir.fd, name), { throwIfNoEntry: false })) continue;
        this.devs.push(name);
        try {
          mknodSync(childFdPath(found.dir.fd, name), 'char', 0o666, major, minor);
        } catch {
          // No CAP_MKNOD: the RUN goes without it; what it writes there is removed after.
        }
      } finally {
        found.dir.close();
      }
    }
  }

  /** A file the run sees at `target` (a generated /etc file), a copy of `source` with `mode`. */
  async file(target: string, source: string, mode: number): Promise<void> {
    await this.place(target, 'file', ({ at }) => {
      copyFileSync(source, at, constants.COPYFILE_EXCL);
      chmodSync(at, mode);
    });
  }

  async mount(m: ExecMount): Promise<void> {
    if (m.type === 'tmpfs') {
      await this.place(m.target, 'dir', ({ at }) => {
        mkdirSync(at);
        chmodSync(at, m.mode ?? 0o1777);
      });
      return;
    }
    if (m.root !== undefined) {
      // An input: resolved inside its own root, never following a link out of it, and copied.
      const held = openInRoot(m.root, m.source);
      try {
        const isDir = held.stat.isDirectory();
        await this.place(m.target, isDir ? 'dir' : 'file', async (at) => {
          if (!isDir) {
            copyFileSync(held.path, at.at, constants.COPYFILE_EXCL);
            chmodSync(at.at, held.stat.mode & 0o7777);
            return;
          }
          mkdirSync(at.at);
          await cp([`/proc/${process.pid}/fd/${held.fd}/.`, at.child]);
        });
      } finally {
        held.close();
      }
      return;
    }
    const st = lstatSync(m.source);
    if (st.isDirectory()) {
      // A cache directory kiln made: moved in, and back after the run.
      const source = m.source;
      await this.place(
        m.target,
        'dir',
        ({ at }) => renameSync(source, at),
        (at) => {
          if (lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) renameSync(at, source);
          else mkdirSync(source, { recursive: true });
        },
      );
    } else if (st.isSocket()) {
      await this.place(m.target, 'file', ({ at }) => {
        try {
          linkSync(m.source, at);
        } catch (err) {
          throw new KilnError(
            'CHROOT_UNSUPPORTED',
            `--isolation chroot: cannot make the socket ${m.target} (${(err as Error).message})`,
            {
              cause: err,
              hint: 'the ssh agent socket must be on the same filesystem as the state root, or build with --isolation rootless or oci',
            },
          );
        }
      });
    } else {
      // A secret: a copy with its owner and mode, removed after the run.
      await this.place(m.target, 'file', ({ at }) => {
        copyFileSync(m.source, at, constants.COPYFILE_EXCL);
        chownSync(at, st.uid, st.gid);
        chmodSync(at, st.mode & 0o7777);
      });
    }
  }

  /**
   * Move what is at `target` aside and `fill` its place; after the run `back` (or removal) and
   * the original returns. Registered for undo before anything moves.
   */
  private async place(
    target: string,
    kind: 'dir' | 'file',
    fill: (at: Place) => void | Promise<void>,
    back?: (at: string) => void,
  ): Promise<void> {
    this.remember(path.posix.dirname(target));
    const rel = this.stubs.ensure(target, kind);
    const found = openParentStrict(this.rootfs, rel);
    if (!found)
      throw new KilnError('PATH_HAS_SYMLINK', `${target}: its parent in the root is not a directory`);
    const stash = path.join(this.scratch, `stash-${this.n++}`);
    let filled = false;
    try {
      renameSync(fdPath(found.dir.fd, found.name), stash);
      this.undo.push(async () => {
        const again = openParentStrict(this.rootfs, rel);
        if (!again) {
          throw new KilnError(
            'CHROOT_UNSUPPORTED',
            `--isolation chroot: the RUN replaced a directory above ${target} with a link; its mount cannot be taken out of the layer`,
            {
              hint: 'do not replace the parents of a RUN --mount target, or build with --isolation rootless or oci',
            },
          );
        }
        try {
          const at = fdPath(again.dir.fd, again.name);
          if (filled && back) back(at);
          rmSync(at, { recursive: true, force: true });
          renameSync(stash, at);
        } finally {
          again.dir.close();
        }
      });
      await fill({ at: fdPath(found.dir.fd, found.name), child: childFdPath(found.dir.fd, found.name) });
      filled = true;
    } finally {
      found.dir.close();
    }
  }

  /** Note the directory `rel` (as it is before any stub) before kiln changes it for the run. */
  private remember(rel: string): void {
    if (this.dirs.has(rel)) return;
    const dir = this.openDir(rel);
    if (!dir) return;
    try {
      this.dirs.set(rel, { names: listing(dir.path), atimeMs: dir.stat.atimeMs, mtimeMs: dir.stat.mtimeMs });
    } finally {
      dir.close();
    }
  }

  /** The directory at `p` held open, resolved inside the root; undefined when there is none. */
  private openDir(p: string): Held | undefined {
    try {
      const h = openInRoot(this.rootfs, p);
      if (h.stat.isDirectory()) return h;
      h.close();
    } catch {
      // Gone, or not reachable inside the root: nothing to note or put back.
    }
    return undefined;
  }

  /** Undo every placement (last first), remove the devices and stubs; the first failure is thrown after all ran. */
  async restore(): Promise<void> {
    let first: unknown;
    for (const u of this.undo.reverse()) {
      try {
        await u();
      } catch (err) {
        first ??= err;
      }
    }
    this.undo.length = 0;
    for (const name of this.devs) {
      const found = openParentStrict(this.rootfs, `dev/${name}`);
      if (!found) continue;
      try {
        const st = lstatSync(fdPath(found.dir.fd, name), { throwIfNoEntry: false });
        if (st && !st.isDirectory()) unlinkSync(fdPath(found.dir.fd, name));
      } finally {
        found.dir.close();
      }
    }
    try {
      this.stubs.removeStubs();
    } catch (err) {
      first ??= err;
    }
    // A directory that lists the same names as before the run gets its times back: the moves
    // in and out touched it, not the RUN (as a mount would not have), so the layer leaves it out.
    for (const [rel, before] of this.dirs) {
      const dir = this.openDir(rel);
      if (!dir) continue;
      try {
        if (listing(dir.path) === before.names)
          utimesSync(dir.path, before.atimeMs / 1000, before.mtimeMs / 1000);
      } finally {
        dir.close();
      }
    }
    if (first) throw first;
  }
}

function cp(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--no-preserve=context', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new KilnError(
              'CHROOT_UNSUPPORTED',
              `--isolation chroot: copying an input mount failed: ${err.trim()}`,
            ),
          ),
    );
  });
}
