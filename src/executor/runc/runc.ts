/**
 * The runc executor: mount the rootfs at <bundle>/rootfs, write config.json, and run
 * `runc --root <state>/runc run --bundle <bundle> <id>` in the foreground with piped output.
 * Abort kills the container; the container, the mounts and the bundle are always cleaned up.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureInRoot } from '../../confine/ensure.ts';
import { KilnError } from '../../errors/errors.ts';
import { hostPlatform, normalizePlatform, type Platform } from '../../oci/platform.ts';
import { mountAll, mountsUnder, optionValue, type UnmountOptions, unmount } from '../../snapshot/mount.ts';
import { childExit } from '../../sys/exec.ts';
import { execShort } from '../../sys/forkserver.ts';
import { ownerDead, selfOwner } from '../../sys/owner.ts';
import {
  type ExecIO,
  type ExecResult,
  type ExecSpec,
  type Executor,
  execCanceled,
  type OutputSink,
  untilReady,
} from '../executor.ts';
import { resolveUser } from '../user.ts';
import { type StagedBinds, stageBinds } from './binds.ts';
import { detachUpper } from './detach.ts';
import { DEFAULT_HOSTNAME, writeEtcFiles } from './etc.ts';
import { type RunNetwork, startRunNetwork } from './network.ts';
import { containerRlimits, specJson } from './rlimits.ts';
import { buildSpec, systemMounts } from './spec.ts';
import { StubTracker } from './stubs.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TAIL_LINES = 20;
/** `runc run --pid-file`'s name in the bundle: runc renames it into place once the process runs. */
const PID_FILE = 'pid';

/**
 * Calls `started` once runc has started the container's process, which it says by renaming its
 * pid file into the bundle (after the init's setup, seccomp's filter included, and the release to
 * exec): ~45 ms after runc itself starts, longer with work beside it. Work told to wait for the
 * process (a RUN's read ahead, ~8 getfattr processes and hashing) no longer competes with runc's
 * init for the two vCPUs (jobs.ts readAhead). Without inotify it is told at once, as before.
 */
function whenRunning(bundle: string, started: () => void): { close(): void } {
  let told = false;
  const tell = () => {
    if (told) return;
    told = true;
    watcher?.close();
    started();
  };
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(bundle, (_event, name) => {
      if (name === PID_FILE) tell();
    });
    watcher.on('error', tell);
  } catch {
    tell();
  }
  return {
    close: () => {
      told = true;
      watcher?.close();
    },
  };
}

/** EXEC_FAILED with the details a renderer or a retry policy needs. */
export class ExecFailedError extends KilnError {
  readonly exitStatus: number;
  readonly signal?: string;
  readonly outputTail: string;
  constructor(args: string[], exitStatus: number, signal: string | undefined, outputTail: string) {
    const how = signal
      ? `was killed by ${signal} (exit status ${exitStatus})`
      : `exited with code ${exitStatus}`;
    super('EXEC_FAILED', `process "${args.join(' ')}" ${how}${outputTail ? `\n${outputTail}` : ''}`, {
      hint: "Look at the output above for the command's own error.",
    });
    this.exitStatus = exitStatus;
    this.signal = signal;
    this.outputTail = outputTail;
  }
}

export interface RuncExecutorOptions {
  /** kiln's state directory: runc state goes to <stateRoot>/runc, bundles to <stateRoot>/bundles. */
  stateRoot: string;
  /** The runc binary (default: `runc` from PATH). */
  runc?: string;
  /** The slirp4netns binary the default network uses (default: from PATH). */
  slirp4netns?: string;
  /**
   * Rootless isolation: kiln is root only inside a user namespace of its own (isolation/userns.ts),
   * so runc runs with --rootless (no cgroups of its own) and the step's limits stay the user's.
   */
  rootless?: boolean;
}

export class RuncExecutor implements Executor {
  private readonly runcRoot: string;
  private readonly bundles: string;
  private readonly runc: string;
  private readonly slirp4netns?: string;
  private readonly rootless: boolean;
  private cleaned?: Promise<void>;
  /** What finished runs left going (a network stopping, a rootfs unmounting): `settle`. */
  private readonly stopping = new Set<Promise<void>>();
  /** The first of those that failed, for `settle` to report. */
  private leftFailure: unknown;

  constructor(opts: RuncExecutorOptions) {
    this.runcRoot = path.join(opts.stateRoot, 'runc');
    this.bundles = path.join(opts.stateRoot, 'bundles');
    this.runc = opts.runc ?? 'runc';
    this.slirp4netns = opts.slirp4netns;
    this.rootless = opts.rootless ?? false;
  }

  /** runc's global flags: its state root, and --rootless in a user namespace. */
  private globals(): string[] {
    return ['--root', this.runcRoot, ...(this.rootless ? ['--rootless', 'true'] : [])];
  }

  async run(spec: ExecSpec, io: ExecIO = {}): Promise<ExecResult> {
    io.signal?.throwIfAborted();
    checkPlatform(spec.platform);
    this.cleaned ??= this.cleanupStale();
    await this.cleaned;
    const id = `kiln-${randomBytes(8).toString('hex')}`;
    const bundle = path.join(this.bundles, id);
    const rootfs = path.join(bundle, 'rootfs');
    await fs.mkdir(rootfs, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(bundle, 'owner.json'), JSON.stringify(selfOwner()));
    let mounted = false;
    const options = spec.rootfs.flatMap((m) => m.options);
    const upper = optionValue(options, 'upperdir');
    const work = optionValue(options, 'workdir');
    const stubs = new StubTracker(rootfs, upper);
    let staged: StagedBinds | undefined;
    // The default network's namespace and slirp4netns come up while the bundle is prepared.
    const net =
      spec.network === 'default'
        ? startRunNetwork({ slirp4netns: this.slirp4netns, rootless: this.rootless })
        : undefined;
    net?.catch(() => undefined);
    try {
      await mountAll(spec.rootfs, rootfs);
      mounted = true;
      try {
        staged = await stageBinds(bundle, spec.mounts ?? []);
        return await this.runMounted(id, bundle, rootfs, stubs, { ...spec, mounts: staged.mounts }, io, net);
      } finally {
        stubs.removeStubs();
      }
    } finally {
      // Usually stopping since the container exited (stopNet below); never fails. Not waited
      // for here: slirp4netns takes 3-30 ms to exit once its tap device goes, on the critical
      // path of every RUN; `settle` waits for it at the build's end.
      if (net) this.leave(net.then((n) => n.close()).catch(() => undefined));
      await staged?.cleanup();
      await this.teardown(bundle, mounted ? rootfs : undefined, { upper, work }, stubs);
    }
  }

  /**
   * After a run: its rootfs unmounted, the stubs' copied-up dirs pruned, the bundle removed. The
   * unmount (100 ms after a big RUN) goes off the path, with the bundle's removal, once the upper
   * dir has moved out from under the mount (detach.ts); where it cannot, it is waited for as
   * before. A move that failed half-way fails the step, after the same cleanup.
   */
  private async teardown(
    bundle: string,
    mountedRootfs: string | undefined,
    dirs: { upper?: string; work?: string },
    stubs: StubTracker,
  ): Promise<void> {
    let failure: unknown;
    const detached =
      mountedRootfs !== undefined &&
      dirs.upper !== undefined &&
      (await detachUpper(dirs.upper, dirs.work, path.join(bundle, 'detached')).catch((err: unknown) => {
        failure = err;
        return false;
      }));
    if (mountedRootfs !== undefined && !detached) await unmount(mountedRootfs);
    if (failure === undefined) stubs.pruneUpper();
    if (detached) this.leave(removeBundle(bundle, { background: true }));
    else await removeBundle(bundle);
    if (failure !== undefined) throw failure;
  }

  /** Let `task` go on after a run has returned; `settle` waits for it and reports its failure. */
  private leave(task: Promise<void>): void {
    const done = task.catch((err: unknown) => {
      this.leftFailure ??= err;
    });
    this.stopping.add(done);
    void done.then(() => this.stopping.delete(done));
  }

  async settle(): Promise<void> {
    while (this.stopping.size > 0) await Promise.all(this.stopping);
    const failure = this.leftFailure;
    this.leftFailure = undefined;
    if (failure !== undefined) throw failure;
  }

  private async runMounted(
    id: string,
    bundle: string,
    rootfs: string,
    stubs: StubTracker,
    spec: ExecSpec,
    io: ExecIO,
    net: Promise<RunNetwork> | undefined,
  ): Promise<ExecResult> {
    const user = await resolveUser(rootfs, spec.user);
    const cwd = spec.cwd || '/';
    // The working directory is created for good (Docker does the same); it is not a stub.
    ensureInRoot(rootfs, cwd, 'dir').held.close();
    const hostname = spec.hostname || DEFAULT_HOSTNAME;
    const network = spec.network ?? 'none';
    const etc = await writeEtcFiles(bundle, hostname, network, spec.extraHosts);
    const mounts = spec.mounts ?? [];
    for (const m of systemMounts(false)) {
      if (!m.destination.startsWith('/dev/')) stubs.ensure(m.destination, 'dir');
    }
    for (const f of ['/etc/hosts', '/etc/resolv.conf']) stubs.ensure(f, 'file');
    const earlier: string[] = ['/dev', '/proc', '/sys'];
    for (const m of mounts) {
      if (!m.target.startsWith('/')) {
        throw new KilnError('EXEC_BAD_MOUNT', `mount target "${m.target}" is not an absolute path`);
      }
      // Targets below another mount are created by runc inside that mount, not in the rootfs.
      if (!earlier.some((e) => m.target === e || m.target.startsWith(`${e}/`))) {
        const isFile = m.type === 'bind' && !(await fs.stat(m.source)).isDirectory();
        stubs.ensure(m.target, isFile ? 'file' : 'dir');
      }
      earlier.push(m.target);
    }
    const env = withDefaults(spec.env ?? [], user.home);
    const config = buildSpec({
      args: spec.args,
      env,
      cwd,
      user,
      hostname,
      network,
      netns: (await net)?.nsPath,
      etc,
      mounts,
      securityInsecure: spec.securityInsecure ?? false,
      // As BuildKit: `<parent>/buildkit/<id>` there, `<parent>/kiln/<id>` here.
      cgroupsPath: path.posix.join('/', spec.cgroupParent ?? '', 'kiln', id),
      rlimits: containerRlimits(spec.ulimits),
      rootless: this.rootless,
    });
    await fs.writeFile(path.join(bundle, 'config.json'), specJson(config));
    // slirp4netns takes tens of ms to exit (its tap device goes): it is stopped as soon as the
    // container exits, while runc deletes it and the rootfs is unmounted.
    const stopNet = () => void net?.then((n) => n.close()).catch(() => undefined);
    return this.runContainer(id, bundle, spec.args, io, stopNet);
  }

  private async runContainer(
    id: string,
    bundle: string,
    args: string[],
    io: ExecIO,
    exited?: () => void,
  ): Promise<ExecResult> {
    if (io.ready) await untilReady(io.ready, io.signal, args);
    const started = Date.now();
    const tail = new OutputTail();
    if (io.signal?.aborted) {
      throw execCanceled(args, io.signal.reason);
    }
    const pidFile = path.join(bundle, PID_FILE);
    const running = io.started && whenRunning(bundle, io.started);
    const child = spawn(
      this.runc,
      [...this.globals(), 'run', '--pid-file', pidFile, '--bundle', bundle, id],
      {
        stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      },
    );
    if (io.stdin && child.stdin) io.stdin.pipe(child.stdin);
    child.stdout!.on('data', (c: Buffer) => {
      tail.push(c);
      emit(io.stdout, c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      tail.push(c);
      emit(io.stderr, c);
    });
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      void this.kill(id);
    };
    io.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { code, signal } = await childExit(
        child,
        (err) =>
          new KilnError('EXEC_RUNTIME_MISSING', `cannot start ${this.runc}: ${err.message}`, {
            cause: err,
            hint: 'Install runc (apt-get install runc) or run scripts/setup.sh.',
          }),
      );
      exited?.();
      io.exited?.();
      if (aborted) {
        throw execCanceled(args, io.signal?.reason);
      }
      const status = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
      if (status !== 0 && /level=error msg="runc run failed/.test(tail.text())) {
        // runc logs (logfmt, quotes escaped) `exec: \"x\": stat x: no such file…`, `executable file
        // not found in $PATH` or `permission denied`: the command is missing or not executable in
        // the image, which is the user's to fix, not a kiln or host problem.
        const exec = /unable to start container process: exec: \\"(.+?)\\": (.+?)"/.exec(tail.text());
        if (exec) {
          throw new KilnError(
            'EXEC_NOT_FOUND',
            `cannot run "${args.join(' ')}": ${exec[1]}: ${exec[2].replace(/^stat [^:]*: /, '')}`,
            {
              hint: 'Check the command and its path in the image, or install it in an earlier step.',
            },
          );
        }
        throw new KilnError(
          'EXEC_RUNTIME_FAILED',
          `runc could not start "${args.join(' ')}":\n${tail.text()}`,
          {
            hint: 'The container setup failed before the command ran; this is a kiln or host problem.',
          },
        );
      }
      if (status !== 0) {
        // runc reports a container killed by signal N as 128+N.
        const sig = status > 128 && status < 128 + 65 ? signalName(status - 128) : undefined;
        throw new ExecFailedError(args, status, sig, tail.text());
      }
      return { exitCode: 0, durationMs: Date.now() - started };
    } finally {
      // No `started` after the run, nor a watch left behind by a runc that could not be started
      // (this runs in the same tick as the exit's handling: no event comes in between).
      running?.close();
      io.signal?.removeEventListener('abort', onAbort);
      await this.deleteIfLeft(id);
    }
  }

  /**
   * `runc run` destroys its container when the process exits (state directory and cgroup); only
   * a run that was killed or failed half-way leaves one. Asking runc to delete costs a process
   * (~20 ms on every RUN, on the build's critical path); looking for the state directory does not.
   */
  private async deleteIfLeft(id: string): Promise<void> {
    const left = await fs.lstat(path.join(this.runcRoot, id)).then(
      () => true,
      (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
    );
    if (left) await this.delete(id);
  }

  /**
   * Containers, rootfs mounts and bundles of a kiln process that was killed mid-run: the
   * container may still be running (runc run has no parent-death signal), so kill it first.
   */
  async cleanupStale(): Promise<void> {
    await fs.mkdir(this.runcRoot, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.bundles, { recursive: true, mode: 0o700 });
    for (const id of await fs.readdir(this.bundles)) {
      const bundle = path.join(this.bundles, id);
      const owner = await fs
        .readFile(path.join(bundle, 'owner.json'), 'utf8')
        .then((t) => JSON.parse(t) as { pid: number; start: string })
        .catch(() => undefined);
      if (owner && !ownerDead(owner)) continue;
      // No owner yet may be a bundle another executor (another build in this process, or
      // another kiln) has just made and not yet claimed: removing it broke that run (ENOTEMPTY).
      if (!owner) {
        const st = await fs.stat(bundle).catch(() => undefined);
        if (!st || Date.now() - st.mtimeMs < UNCLAIMED_BUNDLE_MS) continue;
      }
      await this.kill(id);
      await this.delete(id);
      await removeBundle(bundle);
    }
  }

  private async kill(id: string): Promise<void> {
    await execShort(this.runc, [
      ...this.globals(),
      'kill',
      // --all walks the container's cgroup, which a rootless one has none of; its own PID
      // namespace dies with its init anyway.
      ...(this.rootless ? [] : ['--all']),
      id,
      'KILL',
    ]).catch(() => undefined);
  }

  private async delete(id: string): Promise<void> {
    await execShort(this.runc, [...this.globals(), 'delete', '--force', id]).catch(() => undefined);
  }
}

/**
 * Remove a bundle directory after unmounting everything still mounted inside it (a killed run's
 * rootfs, staged input binds): a recursive removal must never walk into a mount, which would
 * delete a build context or another stage's files. If something cannot be unmounted, the bundle
 * stays (fsck reports it) rather than being removed through the mount.
 */
async function removeBundle(bundle: string, opts: UnmountOptions = {}): Promise<void> {
  for (const mp of await mountsUnder(bundle)) await unmount(mp, opts);
  if ((await mountsUnder(bundle)).length > 0) {
    throw new KilnError('BUNDLE_BUSY', `cannot unmount everything under ${bundle}`, {
      hint: 'something still uses a mount of this run; kiln left the directory in place',
    });
  }
  await fs.rm(bundle, { recursive: true, force: true });
}

/** A bundle without owner.json younger than this is being set up, not left over. */
const UNCLAIMED_BUNDLE_MS = 60_000;

/** The process environment with PATH and HOME filled in as Docker fills them. */
export function withDefaults(env: string[], home: string): string[] {
  const out = [...env];
  if (!out.some((e) => e.startsWith('PATH='))) out.unshift(`PATH=${DEFAULT_PATH}`);
  if (!out.some((e) => e.startsWith('HOME='))) out.push(`HOME=${home}`);
  return out;
}

export function emit(sink: OutputSink | undefined, chunk: Buffer): void {
  if (!sink) return;
  if (typeof sink === 'function') sink(chunk);
  else sink.write(chunk);
}

function signalName(n: number): string | undefined {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
}

/** The last lines of combined output, for error messages. */
class OutputTail {
  private buf = '';
  push(c: Buffer): void {
    this.buf = (this.buf + c.toString('utf8')).slice(-8192);
  }
  text(): string {
    return this.buf.replace(/\n$/, '').split('\n').slice(-TAIL_LINES).join('\n');
  }
}

/** qemu's names for OCI architectures. */
const QEMU_ARCH: Record<string, string> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  arm: 'arm',
  '386': 'i386',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
};

/**
 * A foreign architecture needs a qemu binfmt handler with the F (fix binary) flag, so the
 * interpreter is opened on the host and works inside any rootfs.
 */
export function checkPlatform(platform: Platform | undefined): void {
  if (!platform) return;
  const want = normalizePlatform(platform);
  const host = hostPlatform();
  if (
    want.architecture === host.architecture ||
    (host.architecture === 'amd64' && want.architecture === '386')
  )
    return;
  const name = QEMU_ARCH[want.architecture] ?? want.architecture;
  const file = `/proc/sys/fs/binfmt_misc/qemu-${name}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new KilnError(
      'EXEC_PLATFORM_UNSUPPORTED',
      `cannot run ${want.os}/${want.architecture} binaries: no binfmt handler ${file}`,
      {
        hint: 'Install qemu-user-static and binfmt-support (scripts/setup.sh does), or build for the host platform.',
      },
    );
  }
  const flags = /^flags: (\S*)/m.exec(text)?.[1] ?? '';
  if (!text.startsWith('enabled') || !flags.includes('F')) {
    throw new KilnError(
      'EXEC_PLATFORM_UNSUPPORTED',
      `binfmt handler ${file} is ${text.startsWith('enabled') ? 'missing the F (fix binary) flag' : 'disabled'}`,
      { hint: `Run: update-binfmts --enable qemu-${name} (with qemu-user-static's F flag).` },
    );
  }
}
