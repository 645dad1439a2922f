/**
 * Where kiln keeps its state: `--root`, then $KILN_ROOT, then /var/lib/kiln for root or
 * $XDG_DATA_HOME/kiln (~/.local/share/kiln) for everyone else; and the check that it can be one.
 */
import { accessSync, constants, realpathSync, statfsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';

export function defaultRoot(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 1000): string {
  if (uid === 0) return '/var/lib/kiln';
  const xdg = env.XDG_DATA_HOME;
  // XDG says a relative XDG_DATA_HOME is invalid and must be ignored.
  if (xdg?.startsWith('/')) return join(xdg, 'kiln');
  return join(env.HOME || homedir(), '.local', 'share', 'kiln');
}

/** The state root to use: the explicit option wins over KILN_ROOT, which wins over the default. */
export function resolveRoot(rootOpt?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (rootOpt) return resolve(rootOpt);
  if (env.KILN_ROOT) return resolve(env.KILN_ROOT);
  return defaultRoot(env);
}

/** Kernel filesystems (statfs f_type) that hold no storage: files there are views of the kernel. */
const VIRTUAL_FS: Record<number, string> = {
  40864: 'proc',
  1650812274: 'sysfs',
  2613483: 'cgroup',
  1667723888: 'cgroup2',
  1684170528: 'debugfs',
  1953653091: 'tracefs',
  1935894131: 'securityfs',
  3405662737: 'bpf',
  7377: 'devpts',
  1650812272: 'configfs',
  1634035564: 'pstore',
  3730735588: 'efivarfs',
  1702057283: 'fusectl',
  1112100429: 'binfmt_misc',
};

/**
 * Refuse a root that cannot hold kiln's state before anything is created there: an existing
 * non-directory (a file, /dev/null), or a place on a kernel filesystem (/proc, /sys and the like;
 * Node's recursive mkdir spins forever under /proc/self). The user is trusted, so symlinks in
 * the path are followed; what counts is where they lead.
 */
export function checkRoot(root: string): void {
  const refuse = (why: string) =>
    new KilnError('STORE_ROOT_INVALID', `${root} cannot be kiln's state root: ${why}`, {
      hint: 'choose a writable directory on a real filesystem with --root or KILN_ROOT',
    });
  const abs = resolve(root);
  if (/^\/(proc|sys)(\/|$)/.test(abs))
    throw refuse(`it is under /${abs.split('/')[1]}, a view of the kernel`);
  // The root itself when it exists, else its nearest existing ancestor.
  let probe = abs;
  for (;;) {
    try {
      const st = statSync(probe);
      if (probe === abs && !st.isDirectory()) throw refuse('it exists and is not a directory');
      if (probe !== abs && !st.isDirectory()) throw refuse(`${probe} is not a directory`);
      break;
    } catch (err) {
      if (err instanceof KilnError) throw err;
      // ENOTDIR: a file on the way, which the next round names.
      if (!(isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) || probe === '/')
        throw refuse((err as Error).message);
      probe = dirname(probe);
    }
  }
  const real = realpathSync(probe);
  if (/^\/(proc|sys)(\/|$)/.test(real)) throw refuse(`it leads to ${real}, a view of the kernel`);
  const fsName = VIRTUAL_FS[statfsSync(real).type];
  if (fsName) throw refuse(`${real} is on ${fsName}, a kernel filesystem that holds no files`);
  try {
    accessSync(real, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw refuse(`${real} is not writable (${(err as NodeJS.ErrnoException).code})`);
  }
}
