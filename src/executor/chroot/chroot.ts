/**
 * `--isolation chroot`, kaniko's way, for a container run without privileges (default
 * capabilities and seccomp: no new namespaces, no mounts): each RUN is chroot(8)ed into its
 * snapshot's directory as the step's user. What runc would mount is put in place and taken out
 * again before the snapshot (placements.ts): cache directories are moved in and back, inputs
 * copied, secrets and /etc/hosts and /etc/resolv.conf written as files, a tmpfs is an empty
 * directory, and /dev gets the usual character devices (mknod, CAP_MKNOD). /proc and /sys are
 * not there. The RUN shares the container's network, hostname and process table, and runs as
 * root of the container when its USER is root: the container is the boundary (SECURITY.md).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { ensureInRoot } from '../../confine/ensure.ts';
import { KilnError } from '../../errors/errors.ts';
import { childExit } from '../../sys/exec.ts';
import { makeOwnedDir } from '../../sys/owner.ts';
import type { ExecIO, ExecResult, ExecSpec, Executor, OutputSink } from '../executor.ts';
import { execCanceled, untilReady } from '../executor.ts';
import { writeEtcFiles } from '../runc/etc.ts';
import { checkPlatform, ExecFailedError, emit, withDefaults } from '../runc/runc.ts';
import { resolveUser } from '../user.ts';
import { Placements } from './placements.ts';

const TAIL_BYTES = 8192;

export interface ChrootExecutorOptions {
  /** kiln's state directory: each run's scratch (stashed paths, generated files) is <stateRoot>/run/chroot-…. */
  stateRoot: string;
}

export class ChrootExecutor implements Executor {
  readonly canMount = false;
  private readonly stateRoot: string;
  /**
   * One RUN at a time: a cache directory is moved into the RUN's root, so two RUNs sharing it
   * cannot run together, and parallel RUNs would share the container's process table anyway.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ChrootExecutorOptions) {
    this.stateRoot = opts.stateRoot;
  }

  run(spec: ExecSpec, io: ExecIO = {}): Promise<ExecResult> {
    const mine = this.queue.then(() => this.runNow(spec, io));
    this.queue = mine.catch(() => undefined);
    return mine;
  }

  private async runNow(spec: ExecSpec, io: ExecIO): Promise<ExecResult> {
    io.signal?.throwIfAborted();
    checkPlatform(spec.platform);
    const rootfs = rootDirectory(spec);
    if (spec.network === 'none') {
      throw unsupported(
        'RUN --network=none (and --network none) cannot be honoured: there is no network namespace to make',
        'drop --network=none for this build, or build with --isolation rootless or oci',
      );
    }
    if (spec.ulimits?.length) {
      throw unsupported(
        "--ulimit cannot be applied: RUN steps share kiln's own limits",
        'drop --ulimit, or build with --isolation rootless or oci',
      );
    }
    // Named for this process (run/chroot-<pid>-…): a killed kiln's is swept by the next one.
    const dir = await makeOwnedDir(this.stateRoot, 'chroot');
    const places = new Placements(rootfs, dir);
    try {
      const user = await resolveUser(rootfs, spec.user);
      const cwd = spec.cwd || '/';
      ensureInRoot(rootfs, cwd, 'dir').held.close();
      const etc = await writeEtcFiles(dir, spec.hostname || os.hostname(), 'host', spec.extraHosts);
      places.devices();
      await places.file('/etc/hosts', etc.hosts, 0o644);
      await places.file('/etc/resolv.conf', etc.resolvConf, 0o644);
      // Outer targets first, so a mount inside another lands inside it (as runc orders them).
      const mounts = [...(spec.mounts ?? [])].sort((a, b) => depth(a.target) - depth(b.target));
      for (const m of mounts) await places.mount(m);
      const env = withDefaults(spec.env ?? [], user.home);
      // Exactly the additional gids (none: an empty list), as runc sets them; chroot(8) then reads no group database.
      const groups = user.additionalGids;
      // chroot(8) changes to / inside; a working directory elsewhere needs a shell to cd there.
      const inner =
        cwd === '/'
          ? spec.args
          : ['/bin/sh', '-c', 'cd -- "$1" && shift && exec "$@"', 'sh', cwd, ...spec.args];
      const argv = [
        `--userspec=${user.uid}:${user.gid}`,
        `--groups=${groups.join(',')}`,
        '--',
        rootfs,
        ...inner,
      ];
      return await runChild(argv, spec.args, env, io);
    } finally {
      await places.restore();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

/** The snapshot's directory: chroot mode runs on the native snapshotter, whose mounts are one bind. */
function rootDirectory(spec: ExecSpec): string {
  const [m, ...rest] = spec.rootfs;
  if (
    !m ||
    rest.length > 0 ||
    !(m.type === 'bind' || m.options.includes('rbind') || m.options.includes('bind'))
  ) {
    throw unsupported(
      `the root filesystem is a ${m?.type ?? 'missing'} mount, which chroot mode cannot make`,
      'chroot mode uses the native snapshotter; this is a kiln bug if it happens',
    );
  }
  return m.source;
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

export function unsupported(what: string, hint: string): KilnError {
  return new KilnError('CHROOT_UNSUPPORTED', `--isolation chroot: ${what}`, { hint });
}

/** Run chroot(8) in a process group of its own (so an abort kills the whole RUN), with piped output. */
async function runChild(argv: string[], args: string[], env: string[], io: ExecIO): Promise<ExecResult> {
  if (io.ready) await untilReady(io.ready, io.signal, args);
  const started = Date.now();
  let tail = '';
  const child = spawn('chroot', argv, {
    stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
    detached: true,
  });
  if (io.stdin && child.stdin) io.stdin.pipe(child.stdin);
  if (child.pid !== undefined) io.started?.();
  const onData = (sink: OutputSink | undefined) => (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-TAIL_BYTES);
    emit(sink, c);
  };
  child.stdout!.on('data', onData(io.stdout));
  child.stderr!.on('data', onData(io.stderr));
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    if (child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { code, signal } = await childExit(
      child,
      (err) =>
        new KilnError('EXEC_RUNTIME_MISSING', `cannot start chroot: ${err.message}`, {
          cause: err,
          hint: 'Install coreutils (chroot) in the image kiln runs in.',
        }),
    );
    if (aborted) {
      throw execCanceled(args, io.signal?.reason);
    }
    const lines = tail.replace(/\n$/, '').split('\n').slice(-20).join('\n');
    const failed = /chroot: (cannot change root directory to .*|failed to run command .*)$/m.exec(tail);
    if (code === 125 || (failed && (code === 126 || code === 127))) {
      if (failed && /failed to run command/.test(failed[1])) {
        throw new KilnError(
          'EXEC_NOT_FOUND',
          `cannot run "${args.join(' ')}": ${failed[1].replace(/^failed to run command /, '')}`,
          {
            hint: 'Check the command and its path in the image, or install it in an earlier step.',
          },
        );
      }
      throw new KilnError('EXEC_RUNTIME_FAILED', `chroot could not start "${args.join(' ')}":\n${lines}`, {
        hint: "chroot mode needs root with CAP_SYS_CHROOT, CAP_SETUID and CAP_SETGID (a container's defaults).",
      });
    }
    const status = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
    if (status !== 0) throw new ExecFailedError(args, status, signal ?? undefined, lines);
    return { exitCode: 0, durationMs: Date.now() - started };
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
  }
}
