/**
 * Rootless kiln: the command runs again inside a user namespace (and a mount namespace of its
 * own) where the user is root and the subordinate ranges are uids/gids 1..N, as `buildah
 * unshare` and rootlesskit do. There snapshots, COPY's lchown and layer export see real
 * ownership (uid 0, --chown, USER-made files) and mounts are allowed; on the host the files
 * belong to the user and its subordinate ids. util-linux's unshare writes the mapping with the
 * setuid newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
 */
import { KilnError } from '../errors/errors.ts';
import { IN_USERNS_ENV, userNamespacePlan } from './mode.ts';

/** The unshare(1) arguments for the mapping: user → 0, subordinate ranges → 1..N. */
export function unshareArgs(): string[] {
  const plan = userNamespacePlan();
  return [
    '--map-root-user',
    `--map-users=${plan.uids.start},1,${plan.uids.count}`,
    `--map-groups=${plan.gids.start},1,${plan.gids.count}`,
    '--mount',
    '--propagation',
    'private',
  ];
}

const NAMESPACE_HINT =
  "user namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or blocked by a container's seccomp profile; newuidmap/newgidmap (uidmap) must be setuid root and /etc/subuid, /etc/subgid must list the user. In a container without privileges, run kiln as root with --isolation chroot";

/**
 * Run `argv` (a program and its arguments) inside the namespace with `env` added; resolves with
 * its exit status (128+n for a signal). Stdio is shared (stderr from the moment `argv` starts);
 * SIGINT/SIGTERM/SIGHUP are passed on.
 */
export async function runInUserNamespace(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  // unshare's own failures (no user namespaces, newuidmap refusing the ranges) go to a pipe, so a
  // namespace the host refuses is a kiln error with a way out rather than unshare's words in the
  // middle of the build's output; the command gets the real stderr back (fd 3) from a shell that
  // runs in place of unshare, then execs the command. This replaced a trial `unshare … true`
  // before each rootless command: three more execs (unshare, newuidmap, newgidmap), ~15-25 ms.
  const args = [...unshareArgs(), '--', '/bin/sh', '-c', 'exec 2>&3 3>&-; exec "$0" "$@"', ...argv];
  // Loaded here: a root or cached build never starts a child process before its first RUN.
  const { spawn } = await import('node:child_process');
  // A process group of its own, so a terminal's ^C reaches the inner kiln once (passed on from
  // here) rather than twice, which it would take as "exit now, skip the cleanup".
  const child = spawn('unshare', args, {
    stdio: ['inherit', 'inherit', 'pipe', 2],
    env: { ...process.env, ...env, [IN_USERNS_ENV]: '1' },
    detached: true,
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  // This kiln only waits: the inner one reports and cleans up.
  for (const [s, h] of handlers) {
    process.removeAllListeners(s);
    process.on(s, h);
  }
  return new Promise<number>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new KilnError(
          'ISOLATION_UNAVAILABLE',
          `cannot start unshare for --isolation rootless: ${err.message}`,
          {
            cause: err,
            hint: 'install util-linux 2.38 or later (unshare --map-users) and uidmap',
          },
        ),
      );
    });
    let failure = '';
    child.stderr?.on('data', (c: Buffer) => {
      failure = (failure + c.toString('utf8')).slice(-4096);
    });
    child.once('close', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      // Anything on the pipe came from unshare, newuidmap/newgidmap or the shell: the command
      // itself never started.
      if (failure.trim()) {
        const why = failure.trim().split('\n').slice(-3).join('; ');
        reject(
          new KilnError(
            'ISOLATION_UNAVAILABLE',
            `--isolation rootless: cannot make kiln's user namespace: ${why}`,
            {
              hint: NAMESPACE_HINT,
            },
          ),
        );
        return;
      }
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15));
    });
  });
}

/** This kiln again (same Node, same flags, same arguments), for runInUserNamespace. */
export function selfArgv(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}
