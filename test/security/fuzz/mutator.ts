/**
 * A thread that changes a build context while kiln walks, hashes and copies it (the context fuzz
 * target's "files changing during the walk"): it swaps names for symlinks to host paths, for new
 * files and for directories, and grows files in place, until the shared flag drops to 0. It only
 * ever writes inside the context: a name whose parent resolves outside it is left alone.
 */
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { encodePath } from '../../../src/sys/fsname.ts';
import { Rng } from './random.ts';

export interface MutateJob {
  /** The context directory (its real path). */
  ctx: string;
  /** Names inside it to change. */
  paths: string[];
  /** Host paths the symlinks point at. */
  targets: string[];
  /** A directory outside the context on the same filesystem, for temp names. */
  tmp: string;
  seed: number;
  /** Int32Array[0]: 1 while the case runs. */
  flag: SharedArrayBuffer;
}

function inside(ctx: string, p: string): boolean {
  try {
    const real = realpathSync(encodePath(dirname(p)), { encoding: 'buffer' }).toString('latin1');
    const root = Buffer.from(ctx).toString('latin1');
    return real === root || real.startsWith(`${root}/`);
  } catch {
    return false;
  }
}

function mutateOnce(rng: Rng, job: MutateJob, n: number): void {
  const dst = join(job.ctx, rng.pick(job.paths));
  if (!inside(job.ctx, dst)) return;
  const tmp = join(job.tmp, `m${n % 8}`);
  rmSync(tmp, { recursive: true, force: true });
  const put = () => {
    try {
      renameSync(tmp, encodePath(dst));
    } catch {
      rmSync(encodePath(dst), { recursive: true, force: true });
      renameSync(tmp, encodePath(dst));
    }
  };
  switch (rng.int(4)) {
    case 0:
      symlinkSync(rng.pick(job.targets), tmp);
      put();
      return;
    case 1:
      writeFileSync(tmp, rng.bytes(rng.size(3000)));
      put();
      return;
    case 2:
      mkdirSync(tmp);
      writeFileSync(join(tmp, 'new'), 'new');
      put();
      return;
    default: {
      // O_NOFOLLOW: a name that is now a symlink is not written through; O_NONBLOCK: nor waited on (a FIFO).
      const { O_WRONLY, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;
      const fd = openSync(encodePath(dst), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
      try {
        writeSync(fd, rng.bytes(rng.size(5000)));
      } finally {
        closeSync(fd);
      }
    }
  }
}

parentPort?.on('message', (job: MutateJob) => {
  const flag = new Int32Array(job.flag);
  const rng = new Rng(job.seed);
  for (let n = 0; Atomics.load(flag, 0) === 1; n++) {
    try {
      mutateOnce(rng, job, n);
    } catch {
      // The context changed under the mutator too (its own earlier swaps): try another name.
    }
  }
  parentPort?.postMessage('stopped');
});
