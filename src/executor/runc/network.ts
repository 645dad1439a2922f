/**
 * RUN's `default` network: a network namespace of the step's own, given outbound IPv4 by
 * slirp4netns (a user-space TCP/IP stack that NATs through ordinary sockets of this process's
 * namespace, as rootless podman and BuildKit do) with the host's loopback kept out of reach.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { KilnError } from '../../errors/errors.ts';

/*
 * Why slirp4netns and not pasta (passt): Debian 12's passt is a 2023 snapshot that, started as
 * root, switches to nobody before it opens the target namespace (it cannot join one owned by
 * root without extra flags), forwards ports both ways by default and copies the host's address
 * into the namespace; slirp4netns 1.2 is what podman on Debian 12 uses, starts in ~10 ms, and has
 * --exit-fd/--ready-fd, a sandbox and a seccomp filter for itself.
 *
 * Why one namespace per RUN rather than one per build: RUN steps of parallel stages would share
 * it, so two test servers on the same port would collide and one step could talk to another's
 * loopback services; a namespace and its slirp4netns cost ~10–20 ms, small beside runc's start.
 */

/** slirp4netns's virtual network (its defaults): the step is 10.0.2.100, the gateway .2. */
export const SLIRP_DNS = '10.0.2.3';
/** The largest MTU slirp4netns accepts, as podman uses: fewer, larger packets through the NAT. */
const MTU = 65520;
/** Setting up takes milliseconds; this bounds a wedged host. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export interface RunNetwork {
  /** The namespace for runc to join: a descriptor this process holds, as /proc/<pid>/fd/<n>. */
  readonly nsPath: string;
  /** Stop slirp4netns and let the namespace go (it dies with the last process in it). */
  close(): Promise<void>;
}

export interface NetworkOptions {
  /** The slirp4netns binary (default: from PATH). */
  slirp4netns?: string;
  /** kiln is root only in its own user namespace: /dev/net/tun must be open to the user. */
  rootless?: boolean;
}

/**
 * Create the namespace and start slirp4netns in it. Nothing started outlives this process:
 * the namespace holder exits as soon as the namespace is held by a descriptor here, and
 * slirp4netns exits when its --exit-fd closes, which a SIGKILL of kiln does too.
 */
export async function startRunNetwork(opts: NetworkOptions = {}): Promise<RunNetwork> {
  if (opts.rootless) checkTun();
  const ns = await newNetNamespace();
  let slirp: ChildProcess;
  try {
    slirp = await startSlirp(opts.slirp4netns ?? 'slirp4netns', ns.fd);
  } catch (err) {
    closeSync(ns.fd);
    await ns.holderExited;
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    nsPath: `/proc/${process.pid}/fd/${ns.fd}`,
    close: () => {
      closed ??= stop(slirp).finally(async () => {
        closeSync(ns.fd);
        await ns.holderExited;
      });
      return closed;
    },
  };
}

/**
 * A new network namespace, as a descriptor. `unshare --net cat` makes it; the descriptor is
 * opened only once /proc/<pid>/ns/net is no longer this process's own namespace (before the
 * unshare it still is: attaching slirp4netns there would reconfigure the host), and while the
 * holder is unreaped, so its pid cannot belong to another process yet. Then cat gets EOF and exits.
 */
async function newNetNamespace(): Promise<{ fd: number; holderExited: Promise<void> }> {
  const own = statSync('/proc/self/ns/net').ino;
  const holder = spawn('unshare', ['--net', '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = exitOf(holder);
  let stderr = '';
  holder.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4096);
  });
  let failure: Error | undefined;
  holder.once('error', (err) => {
    failure = err;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      if (failure) throw networkError(`cannot run unshare: ${failure.message}`, 'util-linux');
      if (holder.exitCode !== null || holder.signalCode !== null) {
        throw networkError(`unshare --net failed: ${stderr.trim() || `exit status ${holder.exitCode}`}`);
      }
      if (holder.pid !== undefined) {
        const fd = openIfNew(`/proc/${holder.pid}/ns/net`, own);
        if (fd !== undefined) return { fd, holderExited: exited };
      }
      if (Date.now() > deadline) throw networkError('unshare --net did not make a namespace in time');
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    holder.stdin?.end();
  }
}

/** Synchronously (no event-loop turn, so no reaping in between): the namespace if it is not `own`. */
function openIfNew(nsLink: string, own: number): number | undefined {
  let ino: number;
  try {
    ino = statSync(nsLink).ino;
  } catch {
    return undefined;
  }
  if (ino === own) return undefined;
  const fd = openSync(nsLink, 'r');
  if (fstatSync(fd).ino !== ino) {
    closeSync(fd);
    return undefined;
  }
  return fd;
}

/**
 * slirp4netns on the namespace passed as its fd 5. --disable-host-loopback refuses the gateway
 * alias 10.0.2.2 (which otherwise is the host's 127.0.0.1); it does not stop a frame sent to
 * 127.0.0.1 directly, which is why the step also loses CAP_NET_RAW (spec.ts). --enable-sandbox
 * (own mount namespace, capabilities dropped) and --enable-seccomp confine slirp4netns itself,
 * which parses every packet the step sends.
 */
function startSlirp(bin: string, nsFd: number): Promise<ChildProcess> {
  const args = [
    '--configure',
    `--mtu=${MTU}`,
    '--disable-host-loopback',
    '--enable-sandbox',
    '--enable-seccomp',
    '--exit-fd=3',
    '--ready-fd=4',
    '--netns-type=path',
    '/proc/self/fd/5',
    'eth0',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', nsFd] });
  let stderr = '';
  (child.stderr as Readable).on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4096);
  });
  return new Promise<ChildProcess>((resolve, reject) => {
    // Whatever failed, the process is gone (not just signalled) by the time the error is out.
    const fail = (err: KilnError) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      (child.stdio[3] as Writable | null)?.destroy();
      if (child.pid === undefined) reject(err);
      else void exitOf(child).then(() => reject(err));
    };
    const timer = setTimeout(
      () => fail(networkError(`slirp4netns did not come up in ${START_TIMEOUT_MS / 1000} s:\n${stderr}`)),
      START_TIMEOUT_MS,
    );
    child.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'ENOENT'
          ? networkError(`slirp4netns is not installed (${bin}: not found)`, 'slirp4netns', err)
          : networkError(`cannot start slirp4netns: ${err.message}`, undefined, err),
      ),
    );
    child.once('exit', (code, signal) =>
      fail(
        networkError(`slirp4netns exited (${signal ?? `status ${code}`}) while starting:\n${stderr.trim()}`),
      ),
    );
    // It writes "1" to the ready fd once the interface, address and routes are configured.
    (child.stdio[4] as Readable).once('data', () => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      child.on('error', () => undefined);
      (child.stdio[4] as Readable).destroy();
      resolve(child);
    });
  });
}

/** Close the exit fd; slirp4netns leaves at once, and is killed if it has not after a while. */
async function stop(child: ChildProcess): Promise<void> {
  const exited = exitOf(child);
  (child.stdio[3] as Writable).destroy();
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

/**
 * slirp4netns opens /dev/net/tun as the user (the device's owner is the host's root, unmapped in
 * kiln's namespace); most distributions make it 0666, some sandboxes 0600.
 */
function checkTun(): void {
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch (err) {
    throw new KilnError(
      'EXEC_NETWORK_UNAVAILABLE',
      `cannot set up the RUN's network in --isolation rootless: /dev/net/tun is not readable and writable by this user (${(err as NodeJS.ErrnoException).code})`,
      {
        cause: err,
        hint: "ask an administrator to run: chmod 0666 /dev/net/tun (most distributions ship it so); or build with --network=none (no network) or --network=host (the user's own network, with --allow network.host)",
      },
    );
  }
}

function networkError(message: string, pkg?: string, cause?: unknown): KilnError {
  return new KilnError('EXEC_NETWORK_UNAVAILABLE', `cannot set up the RUN's network: ${message}`, {
    cause,
    hint: pkg
      ? `Install ${pkg} (apt-get install ${pkg}; scripts/setup.sh does); a build that needs no network can run with --network=none.`
      : 'This is a host problem: kiln must be able to create network namespaces (as root) and run slirp4netns.',
  });
}
