/**
 * Running an exec vertex (a Dockerfile RUN): a writable snapshot over the rootfs input, the
 * RUN --mount mounts (bind from inputs, cache, tmpfs, secret, ssh), runc, then commit. Output
 * lines become progress log events; a failure names the step and shows the last output.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { KilnError } from '../errors/errors.ts';
import type { ExecMount, Executor } from '../executor/executor.ts';
import type { RunMountSpec } from '../executor/run-mounts.ts';
import type { ExecOp, Mount } from '../graph/ops.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { JobContext } from '../solver/solver.ts';
import { makeOwnedDir } from '../sys/owner.ts';
import { copyDirState, materialize } from './materialize.ts';
import { withStatePaths } from './mounted.ts';
import type { SecretSource } from './secrets.ts';
import { type BuildState, type FsState, SCRATCH } from './state.ts';
import { commitStep } from './step.ts';

export { type SecretSource, secretSource } from './secrets.ts';

export interface ExecDeps {
  snapshotter: Snapshotter;
  executor: Executor;
  /** kiln's state root (cache mounts, runc state). */
  stateRoot: string;
  secrets: SecretSource;
  /** ssh id → agent socket path. */
  ssh: Record<string, string>;
}

export async function runExec(
  deps: ExecDeps,
  op: ExecOp,
  inputs: BuildState[],
  ctx: JobContext,
  extraEnv: Record<string, string> = {},
  /** Told when the RUN's process has started (ExecIO.started). */
  started?: () => void,
): Promise<FsState> {
  const sn = deps.snapshotter;
  const rootfs = op.rootfs === null ? SCRATCH : await materialize(sn, inputs[op.rootfs]);
  const binds = op.mounts.filter((m): m is Extract<Mount, { type: 'bind' }> => m.type === 'bind');
  const bindStates = binds.map((m) => (m.input === null ? SCRATCH : inputs[m.input]));
  const log = (stream: 'stdout' | 'stderr') => {
    // A character split across two writes is decoded whole, not as two replacement characters.
    const decoder = new StringDecoder('utf8');
    return (chunk: Buffer) => {
      const data = decoder.write(chunk);
      if (data) ctx.progress({ type: 'log', id: ctx.id, stream, data, at: Date.now() });
    };
  };
  return commitStep(sn, rootfs, 'exec', (_active, rootMounts) =>
    withStatePaths(sn, bindStates, async (bindDirs) => {
      const specs: RunMountSpec[] = [];
      const env = [...op.env];
      for (const [k, v] of Object.entries(extraEnv))
        if (!env.some((e) => e.startsWith(`${k}=`))) env.push(`${k}=${v}`);
      const scratchDirs: string[] = [];
      for (const [i, m] of binds.entries()) {
        let root = bindDirs[i];
        const state = bindStates[i];
        if (state.kind === 'dir' && (state.excludePatterns.length > 0 || state.includePatterns.length > 0)) {
          // A context is what the build may read of a directory: a bind mount of it must not
          // show the files .dockerignore keeps out (BuildKit's context never holds them).
          // (In a directory named for this process, so a killed kiln's copy is cleaned up.)
          const mirror = await makeOwnedDir(deps.stateRoot, 'bind');
          scratchDirs.push(mirror);
          root = join(mirror, 'd');
          await mkdir(root, { mode: 0o755 });
          await copyDirState(state, root);
        }
        // The source is resolved inside its own root by the executor, by descriptor: a symlink
        // the input planted never leads to the host. A writable one's writes are thrown away.
        specs.push({ type: 'bind', target: m.target, root, source: m.selector || '/', readonly: m.readonly });
      }
      for (const m of op.mounts) {
        if (m.type === 'cache') {
          specs.push({
            type: 'cache',
            target: m.target,
            id: m.id,
            sharing: m.sharing,
            readonly: m.readonly,
            uid: m.uid,
            gid: m.gid,
            mode: m.mode,
          });
        } else if (m.type === 'tmpfs') {
          specs.push({ type: 'tmpfs', target: m.target, size: m.size || undefined });
        } else if (m.type === 'secret') {
          const data = await deps.secrets.get(m.id);
          if (!data) {
            if (m.required) {
              throw new KilnError(
                'SECRET_NOT_FOUND',
                `secret "${m.id}" is required by this RUN but was not provided`,
                {
                  hint: `pass it with --secret id=${m.id},src=FILE (or env=VAR)`,
                },
              );
            }
            continue;
          }
          if (m.env) env.push(`${m.env}=${data.toString('utf8')}`);
          if (!m.env || m.target)
            specs.push({
              type: 'secret',
              id: m.id,
              target: m.target || undefined,
              data,
              mode: m.mode,
              uid: m.uid,
              gid: m.gid,
            });
        } else if (m.type === 'ssh') {
          const socket = deps.ssh[m.id];
          if (!socket) {
            if (m.required) {
              throw new KilnError(
                'SSH_NOT_FOUND',
                `ssh agent "${m.id}" is required by this RUN but was not forwarded`,
                {
                  hint: `pass it with --ssh ${m.id}=$SSH_AUTH_SOCK (or --ssh default)`,
                },
              );
            }
            continue;
          }
          specs.push({
            type: 'ssh',
            id: m.id,
            target: m.target || undefined,
            socket,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
          });
        }
      }
      const { prepareRunMounts } = await import('../executor/run-mounts.ts');
      // The locks of sharing=locked caches are waited for by the executor, its container ready.
      const prepared = await prepareRunMounts(specs, deps.stateRoot, {
        canMount: deps.executor.canMount,
        deferLocks: true,
      });
      try {
        await deps.executor.run(
          {
            rootfs: rootMounts,
            args: op.args,
            env: [...env, ...prepared.env],
            cwd: op.cwd,
            user: op.user || undefined,
            hostname: op.hostname || undefined,
            network: op.network,
            mounts: prepared.mounts as ExecMount[],
            platform: op.platform,
            securityInsecure: op.security === 'insecure',
            extraHosts: op.extraHosts,
            ulimits: op.ulimits,
            cgroupParent: op.cgroupParent,
          },
          {
            stdout: log('stdout'),
            stderr: log('stderr'),
            signal: ctx.signal,
            started,
            ready: prepared.ready,
            exited: () => void prepared.releaseLocks(),
          },
        );
      } finally {
        await prepared.cleanup();
        for (const d of scratchDirs) await rm(d, { recursive: true, force: true });
      }
    }),
  );
}
