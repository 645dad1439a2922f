/**
 * The executor contract: run one process in a container whose rootfs is a snapshot's mounts,
 * with extra mounts, a user, a network mode and a platform. The runc implementation lives in
 * runc/; RUN --mount preparation (cache, secret, ssh, …) in run-mounts.ts.
 */
import type { Readable } from 'node:stream';
import { KilnError } from '../errors/errors.ts';
import type { ExtraHost, Ulimit } from '../graph/ops.ts';
import type { Platform } from '../oci/platform.ts';
import type { Mount } from '../snapshot/snapshotter.ts';

/**
 * 'none': own network namespace with only loopback. 'host': the host's network (a build must be
 * allowed network.host). 'default': own network namespace whose eth0 reaches out through a
 * user-space NAT (slirp4netns, as rootless podman and BuildKit use), with no way to the host's
 * loopback services; the host's other addresses and the networks it routes to are reachable.
 */
export type NetworkMode = 'none' | 'host' | 'default';

export interface BindMount {
  type: 'bind';
  /**
   * Host path of a file, directory or socket kiln made (a cache directory, a secret, an agent
   * socket); or, with `root`, a path inside that root.
   */
  source: string;
  /**
   * The source is an input (another stage's rootfs, the build context): `source` is resolved
   * inside this root, never following a symlink out of it, and a writable mount's writes are
   * thrown away rather than reaching the source.
   */
  root?: string;
  /** Absolute path in the container. */
  target: string;
  readonly?: boolean;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Size limit in bytes. */
  size?: number;
  mode?: number;
}

export type ExecMount = BindMount | TmpfsMount;

export type { ExtraHost, Ulimit };

/** The resource names `--ulimit` takes, as Docker's (go-units): each is RLIMIT_ and the name in capitals. */
export const ULIMIT_NAMES = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
] as const;

export interface ExecSpec {
  /** The rootfs, as the snapshotter's mounts(key) returns it. */
  rootfs: Mount[];
  args: string[];
  /** KEY=value; PATH and HOME get defaults when absent. */
  env?: string[];
  /** Working directory, created (root-owned) when missing. Default '/'. */
  cwd?: string;
  /** `user`, `uid`, `user:group` or `uid:gid`; names resolve through the rootfs's /etc files. */
  user?: string;
  hostname?: string;
  /** Default 'none'. */
  network?: NetworkMode;
  /** A tmpfs or bind mount at /dev/shm replaces the default /dev/shm (a 64 MiB tmpfs). */
  mounts?: ExecMount[];
  /** Lines added to /etc/hosts. */
  extraHosts?: ExtraHost[];
  /** Resource limits; a name not given keeps the default (RLIMIT_NOFILE 1048576, else inherited). */
  ulimits?: Ulimit[];
  /** The cgroup the container is created under (`<parent>/kiln/<id>`); default `/kiln/<id>`. */
  cgroupParent?: string;
  /** Platform of the rootfs; a foreign architecture runs through qemu-user-static binfmt. */
  platform?: Platform;
  /** RUN --security=insecure: all capabilities, no masked paths, writable /sys. */
  securityInsecure?: boolean;
}

/** Where output goes: a callback per chunk or a writable stream. */
export type OutputSink = ((chunk: Buffer) => void) | NodeJS.WritableStream;

export interface ExecIO {
  stdin?: Readable;
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Aborting kills the container; run() then rejects with code EXEC_CANCELED. */
  signal?: AbortSignal;
  /**
   * Told once, when the process has been started: work the build can do while it runs (reading
   * ahead for a later step) waits for this, so as not to hold up the container's start.
   */
  started?: () => void;
  /**
   * The process starts only once this settles (a `sharing=locked` cache mount's lock, which
   * another RUN may hold): the rootfs, the network and the bundle are made ready meanwhile, so
   * that the wait ends in the container's start alone. A rejection fails the run with its error.
   */
  ready?: Promise<void>;
  /**
   * Told once the container's processes are all gone (its PID namespace ended with its init),
   * before its rootfs is unmounted: a `sharing=locked` cache is let go then, and the RUN waiting
   * on it does not also wait for this one's unmount (93 ms after W3's `apt-get install`). Not
   * told by an executor whose RUN could leave a process behind (chroot).
   */
  exited?: () => void;
}

export interface ExecResult {
  exitCode: number;
  /** Wall-clock milliseconds the container ran. */
  durationMs: number;
}

export interface Executor {
  /**
   * False when the executor can make no mounts (`--isolation chroot`): RUN --mount preparation
   * then mounts nothing either (secrets in a plain directory rather than a tmpfs).
   */
  readonly canMount?: boolean;
  /**
   * Run the process to completion. A non-zero exit rejects with code EXEC_FAILED (the error's
   * `exitStatus` and `outputTail` properties carry details); the container is always deleted.
   */
  run(spec: ExecSpec, io?: ExecIO): Promise<ExecResult>;
  /**
   * Wait until what finished runs left going is done (a RUN's network helper, which takes
   * milliseconds to exit; its rootfs's unmount, once its upper dir has moved out from under it):
   * neither is waited for by `run`. Called once nothing runs any more; rejects with the first of
   * them that failed (an unmount).
   */
  settle?(): Promise<void>;
}

/**
 * Wait for `ready` (ExecIO.ready) before a process starts; an abort meanwhile is EXEC_CANCELED,
 * as it is once the process runs.
 */
export async function untilReady(
  ready: Promise<void>,
  signal: AbortSignal | undefined,
  args: string[],
): Promise<void> {
  if (!signal) return ready;
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(execCanceled(args, signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([ready, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** EXEC_CANCELED for a process the build's cancel stopped (or kept from starting). */
export function execCanceled(args: string[], cause: unknown): KilnError {
  return new KilnError('EXEC_CANCELED', `process "${args.join(' ')}" was canceled`, { cause });
}
