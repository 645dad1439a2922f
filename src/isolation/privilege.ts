/**
 * A system call the kernel refused for lack of a privilege (EPERM), or an owner the user
 * namespace cannot hold (EINVAL from chown), as an error that names the privilege, the mode that
 * would work and how to get it, instead of Node's raw `EPERM: operation not permitted, lchown …`.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { inUserNamespace } from './mode.ts';

const CHOWN = new Set(['chown', 'lchown', 'fchown', 'fchownat']);

/** How many uids the current user namespace maps (from 0), or undefined at the top. */
function mappedIds(): number | undefined {
  try {
    const lines = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n');
    const [inside, outside, count] = lines[0].trim().split(/\s+/).map(Number);
    if (lines.length === 1 && inside === 0 && outside === 0 && count === 4294967295) return undefined;
    return Math.max(...lines.map((l) => l.trim().split(/\s+/).map(Number)).map(([i, , c]) => i + c));
  } catch {
    return undefined;
  }
}

/**
 * The KilnError for `err` when it is a privilege failure (PRIVILEGE_MISSING), else undefined.
 * `root` (the filesystem being written) makes the path the image's own; `what` says whose file
 * it is (`COPY`, `the base image`).
 */
export function privilegeError(err: unknown, root?: string, what = 'this step'): KilnError | undefined {
  const e = err as NodeJS.ErrnoException;
  if (typeof e !== 'object' || e === null || (e.code !== 'EPERM' && e.code !== 'EINVAL')) return undefined;
  const syscall = e.syscall ?? '';
  const at = e.path && root && isAbsolute(e.path) ? `/${relative(root, e.path)}` : (e.path ?? '');
  const uid = process.getuid?.() ?? 0;
  if (CHOWN.has(syscall)) {
    const ids = mappedIds();
    if (inUserNamespace() || ids !== undefined) {
      return new KilnError(
        'PRIVILEGE_MISSING',
        `${what} gives ${at} an owner outside the ${ids ?? '?'} uids/gids kiln's user namespace maps (${e.code} from ${syscall})`,
        {
          cause: err,
          hint: `rootless builds map the user to 0 and its subordinate ids to 1..N: give the user a larger range (usermod --add-subuids 100000-1099999 --add-subgids 100000-1099999 USER), or build as root (--isolation oci)`,
        },
      );
    }
    if (e.code === 'EPERM') {
      return new KilnError(
        'PRIVILEGE_MISSING',
        `${what} cannot set the owner of ${at}: ${syscall} needs CAP_CHOWN, which this process (uid ${uid}) lacks`,
        {
          cause: err,
          hint:
            uid === 0
              ? "keep the container's default capabilities (no --cap-drop CHOWN), or use --isolation rootless as a non-root user"
              : 'run kiln as a non-root user with subordinate ids (--isolation rootless, chosen by default), or as root',
        },
      );
    }
    return undefined;
  }
  if (e.code !== 'EPERM') return undefined;
  const priv = syscall === 'mknod' ? 'CAP_MKNOD' : syscall === 'mount' ? 'CAP_SYS_ADMIN' : 'a privilege';
  return new KilnError(
    'PRIVILEGE_MISSING',
    `${what}: ${syscall || 'an operation'} on ${at} is not permitted (needs ${priv})`,
    {
      cause: err,
      hint: 'build as root (--isolation oci), or as a non-root user with subordinate ids (--isolation rootless)',
    },
  );
}
