/**
 * `kiln run`: a command in the working container through the runc executor, as a RUN step runs
 * but on the container's own rootfs (its changes stay in the container), with stdin, stdout and
 * stderr passed through. The result is the command's exit status.
 */

import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { hasCode, KilnError } from '../errors/errors.ts';
import type { ExecMount, NetworkMode } from '../executor/executor.ts';
import type { RunMountSpec } from '../executor/run-mounts.ts';
import type { RuncExecutor } from '../executor/runc/runc.ts';
import { inUserNamespace } from '../isolation/mode.ts';
import type { Mount } from '../snapshot/snapshotter.ts';
import type { ContainerRecord } from './record.ts';
import { containerDirs, containerMount } from './rootfs.ts';
import type { Session } from './session.ts';

export interface RunOptions {
  /** KEY=VALUE entries added to (or replacing those of) the image config's Env. */
  env?: string[];
  workingDir?: string;
  user?: string;
  /** RUN --mount's types: bind (host paths), cache, tmpfs. */
  mounts?: RunMountSpec[];
  network?: NetworkMode;
  /** HOST:CONTAINER[:ro|rw] bind mounts. */
  volumes?: string[];
  stdin?: Readable;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Parse `-v HOST:CONTAINER[:ro]` as buildah run does. */
export function parseVolume(text: string): RunMountSpec {
  const [src, target, mode, ...rest] = text.split(':');
  if (!src || !target || rest.length || (mode !== undefined && !/^(ro|rw|z|Z)(,(ro|rw|z|Z))*$/.test(mode))) {
    throw new KilnError('VOLUME_INVALID', `invalid --volume "${text}"`, {
      hint: 'write HOST-DIR:CONTAINER-DIR, optionally followed by :ro',
    });
  }
  return {
    type: 'bind',
    root: '/',
    source: resolve(src),
    target,
    readonly: mode?.split(',').includes('ro') ?? false,
  };
}

/** The rootfs mounts: `kiln mount`'s mount when there is one, else the container's overlay. */
export async function rootfsMounts(s: Session, rec: ContainerRecord): Promise<Mount[]> {
  const dirs = containerDirs(s.records.home(rec.id));
  if (rec.mountPoint) {
    const { isMountPoint } = await import('../snapshot/mount.ts');
    if (await isMountPoint(rec.mountPoint).catch(() => false))
      return [{ type: 'bind', source: rec.mountPoint, options: ['rbind', 'rw'] }];
  }
  return containerMount(s.sn, rec.layers.at(-1)?.snapshot ?? rec.anchor, dirs);
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const key = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    const value = e.includes('=') ? e : `${e}=${process.env[e] ?? ''}`;
    const i = out.findIndex((x) => x.startsWith(`${key}=`));
    if (i >= 0) out[i] = value;
    else out.push(value);
  }
  return out;
}

export async function runInContainer(
  s: Session,
  rec: ContainerRecord,
  argv: string[],
  opts: RunOptions = {},
): Promise<number> {
  if (argv.length === 0) {
    throw new KilnError('RUN_NO_COMMAND', 'no command to run', {
      hint: 'write it after --: kiln run CTR -- CMD ARGS',
    });
  }
  const rootfs = await rootfsMounts(s, rec);
  const cc = rec.config.config ?? {};
  const specs = [...(opts.mounts ?? []), ...(opts.volumes ?? []).map(parseVolume)];
  const { prepareRunMounts } = await import('../executor/run-mounts.ts');
  const prepared = await prepareRunMounts(specs, s.store.root);
  let executor: RuncExecutor | undefined;
  try {
    const runc = await import('../executor/runc/runc.ts');
    // In rootless kiln's user namespace runc runs --rootless, as for a build.
    executor = new runc.RuncExecutor({ stateRoot: s.store.root, rootless: inUserNamespace() });
    await executor.run(
      {
        rootfs,
        args: argv,
        env: [...mergeEnv(cc.Env ?? [], opts.env ?? []), ...prepared.env],
        cwd: opts.workingDir ?? (cc.WorkingDir || '/'),
        user: opts.user ?? (cc.User || undefined),
        hostname: rec.id.slice(0, 12),
        network: opts.network ?? 'default',
        mounts: prepared.mounts as ExecMount[],
        platform: rec.platform,
      },
      {
        stdin: opts.stdin,
        stdout: opts.stdout ?? process.stdout,
        stderr: opts.stderr ?? process.stderr,
        signal: s.opts.signal,
      },
    );
    return 0;
  } catch (err) {
    if (hasCode(err, 'EXEC_FAILED')) return (err as KilnError & { exitStatus: number }).exitStatus;
    throw err;
  } finally {
    await prepared.cleanup();
    await executor?.settle();
  }
}
