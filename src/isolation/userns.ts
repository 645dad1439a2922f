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

/**
 * Run `argv` (a program and its arguments) inside the namespace with `env` added; resolves with
 * its exit status (128+n for a signal). Stdio is shared; SIGINT/SIGTERM/SIGHUP are passed on.
 */
export async function runInUserNamespace(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const mapping = unshareArgs();
  const args = [...mapping, '--', ...argv];
  // Loaded here: a root or cached build never starts a child process before its first RUN.
  const { spawn, spawnSync } = await import('node:child_process');
  // A trial first (a few ms), so a namespace the host refuses is a kiln error with a way out
  // rather than unshare's own words in the middle of the build's output.
  const trial = spawnSync('unshare', [...mapping, '--', 'true'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (trial.error || trial.status !== 0) {
    const why = (trial.error?.message ?? trial.stderr ?? '').trim().split('\n').slice(-3).join('; ');
    throw new KilnError(
      'ISOLATION_UNAVAILABLE',
      `--isolation rootless: cannot make kiln's user namespace: ${why || `unshare exited with ${trial.status}`}`,
      {
        hint: "user namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or blocked by a container's seccomp profile; newuidmap/newgidmap (uidmap) must be setuid root and /etc/subuid, /etc/subgid must list the user. In a container without privileges, run kiln as root with --isolation chroot",
      },
    );
  }
  // A process group of its own, so a terminal's ^C reaches the inner kiln once (passed on from
  // here) rather than twice, which it would take as "exit now, skip the cleanup".
  const child = spawn('unshare', args, {
    stdio: 'inherit',
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
    child.once('close', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15));
    });
  });
}

/** This kiln again (same Node, same flags, same arguments), for runInUserNamespace. */
export function selfArgv(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}
