/**
 * Bind mounts whose source comes from the build's inputs (another stage's rootfs, the build
 * context) are never handed to runc as paths: runc's mount(2) would follow a symlink the input
 * planted, on the host. Each source is resolved inside its own root by descriptor, and the held
 * descriptor itself is bind-mounted (/proc/<kiln>/fd/<n> as the mount's source) onto a staging
 * point in the bundle, which kiln alone controls; runc then mounts the staging point. A writable
 * input mount (whose writes BuildKit throws away) gets a scratch overlay over its staged
 * source, or a copy when it is a single file.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openInRoot } from '../../confine/fd.ts';
import { KilnError } from '../../errors/errors.ts';
import { mountAll, unmount } from '../../snapshot/mount.ts';
import type { BindMount, ExecMount } from '../executor.ts';

export interface StagedBinds {
  /** The mounts with every input bind's source replaced by its staging point. */
  mounts: ExecMount[];
  /** Unmount the staging points (innermost first). Idempotent. */
  cleanup(): Promise<void>;
}

/** Stage every bind mount that names a `root` under `<bundle>/binds`. */
export async function stageBinds(bundle: string, mounts: readonly ExecMount[]): Promise<StagedBinds> {
  const out: ExecMount[] = [];
  const mounted: string[] = [];
  const cleanup = async () => {
    while (mounted.length > 0) await unmount(mounted.pop() as string);
  };
  try {
    let n = 0;
    for (const m of mounts) {
      if (m.type !== 'bind' || m.root === undefined) {
        out.push(m);
        continue;
      }
      const dir = path.join(bundle, 'binds', String(n++));
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      out.push({
        ...m,
        source: await stageOne(m as BindMount & { root: string }, dir, mounted),
        root: undefined,
      });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { mounts: out, cleanup };
}

async function stageOne(m: BindMount & { root: string }, dir: string, mounted: string[]): Promise<string> {
  let held: ReturnType<typeof openInRoot>;
  try {
    held = openInRoot(m.root, m.source);
  } catch (err) {
    if ((err as KilnError).code !== 'PATH_NOT_FOUND') throw err;
    throw new KilnError('MOUNT_SOURCE_MISSING', `bind mount source ${m.source || '/'} does not exist`, {
      cause: err,
      hint: 'the source is looked up inside the stage or context it comes from; a symlink cannot lead out of it',
    });
  }
  try {
    const isDir = held.stat.isDirectory();
    if (!isDir && !held.stat.isFile()) {
      throw new KilnError(
        'MOUNT_SOURCE_UNSUPPORTED',
        `bind mount source ${m.source} is not a file or directory`,
        {
          hint: 'mount a directory or a regular file',
        },
      );
    }
    if (!isDir && !m.readonly) {
      // A writable single file: a private copy (its writes are thrown away with the bundle).
      const copy = path.join(dir, 'file');
      copyFileSync(held.path, copy);
      return copy;
    }
    const stage = path.join(dir, 'src');
    if (isDir) mkdirSync(stage, { mode: 0o700 });
    else writeFileSync(stage, '', { mode: 0o600 });
    await mountHeld(held.fd, stage);
    mounted.push(stage);
    if (m.readonly || !isDir) return stage;
    // Writable directory: an overlay whose lower layer is the staged source and whose upper
    // directory is thrown away after the run.
    const upper = path.join(dir, 'upper');
    const work = path.join(dir, 'work');
    const merged = path.join(dir, 'merged');
    for (const d of [upper, work, merged]) mkdirSync(d, { mode: 0o700 });
    await mountAll(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`lowerdir=${stage}`, `upperdir=${upper}`, `workdir=${work}`],
        },
      ],
      merged,
    );
    mounted.push(merged);
    return merged;
  } finally {
    held.close();
  }
}

/**
 * Bind-mount what descriptor `fd` holds onto `target`: the source is the path of our descriptor,
 * /proc/<kiln>/fd/<fd>, passed as it is (mount(2) by the mount server, or mount(8) with -c), so
 * the kernel follows that magic link to the very inode we resolved, whatever names change
 * meanwhile; we hold the descriptor until the mount is made.
 */
async function mountHeld(fd: number, target: string): Promise<void> {
  await mountAll([{ type: 'bind', source: `/proc/${process.pid}/fd/${fd}`, options: ['bind'] }], target);
}
