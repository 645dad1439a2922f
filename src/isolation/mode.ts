/**
 * Isolation modes, with buildah's names: `oci` (runc with namespaces and overlay, root on the
 * host), `rootless` (a non-root user: kiln runs inside a user namespace where it is root, runc
 * rootless, native snapshots) and `chroot` (no namespaces, no mounts: each RUN is chrooted into
 * the step's root filesystem, kaniko's way, for a container with default capabilities). The
 * mode comes from `--isolation`, else $KILN_ISOLATION, else what this process can do.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { KilnError } from '../errors/errors.ts';
import { findSubIds, type SubIdRange } from './subid.ts';

export type Isolation = 'oci' | 'rootless' | 'chroot';
export const ISOLATIONS: readonly Isolation[] = ['oci', 'rootless', 'chroot'];

/** Set in the environment of the kiln that runs inside the user namespace kiln made (userns.ts). */
export const IN_USERNS_ENV = '_KILN_IN_USERNS';

const CAP_SYS_ADMIN = 21;
const CAP_SYS_CHROOT = 18;

export interface Chosen {
  mode: Isolation;
  /** Why this mode, for the progress output (`isolation: rootless (non-root user with subordinate ids)`). */
  why: string;
}

/** Parse a mode name from a flag or the environment. */
export function parseIsolation(text: string, from: string): Isolation {
  const t = text.trim().toLowerCase();
  if ((ISOLATIONS as readonly string[]).includes(t)) return t as Isolation;
  throw new KilnError('INVALID_FLAG', `${from}: unknown isolation "${text}"`, {
    hint: 'use oci (root on the host), rootless (a non-root user with subordinate ids) or chroot (an unprivileged container)',
  });
}

/** This process's effective capabilities (CapEff of /proc/self/status), or undefined off Linux. */
function effectiveCaps(): bigint | undefined {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    return line ? BigInt(`0x${line.split(/\s+/)[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

const hasCap = (caps: bigint | undefined, n: number) =>
  caps === undefined || ((caps >> BigInt(n)) & 1n) === 1n;

/** True inside the user namespace a rootless kiln made for itself (it re-executes there). */
export function inOwnUserNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[IN_USERNS_ENV] === '1';
}

let mapped: boolean | undefined;
/**
 * True in any user namespace but the host's (uid_map is not the identity of every id): kiln's
 * own, or a rootless container kiln was started in. Root there may not set trusted.* xattrs,
 * mknod devices or make a cgroup.
 */
export function inUserNamespace(): boolean {
  if (mapped === undefined) {
    try {
      const map = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).map(Number);
      mapped = !(map.length === 3 && map[0] === 0 && map[1] === 0 && map[2] === 4294967295);
    } catch {
      mapped = false;
    }
  }
  return mapped;
}

/**
 * The mode to use: the flag, else KILN_ISOLATION, else chosen: root with CAP_SYS_ADMIN → oci;
 * root without it (a container run without --privileged) → chroot; a non-root user with
 * subordinate ids → rootless. A non-root user without them gets an error saying how to get them.
 */
export function chooseIsolation(flag?: string, env: NodeJS.ProcessEnv = process.env): Chosen {
  if (flag) return { mode: parseIsolation(flag, '--isolation'), why: 'from --isolation' };
  if (env.KILN_ISOLATION)
    return { mode: parseIsolation(env.KILN_ISOLATION, 'KILN_ISOLATION'), why: 'from KILN_ISOLATION' };
  if (inOwnUserNamespace(env)) return { mode: 'rootless', why: "non-root user, in kiln's user namespace" };
  const caps = effectiveCaps();
  if (process.getuid?.() === 0) {
    // Root of someone else's user namespace (a rootless container): runc must go rootless too.
    if (inUserNamespace() && hasCap(caps, CAP_SYS_ADMIN))
      return { mode: 'rootless', why: 'root of a user namespace' };
    if (hasCap(caps, CAP_SYS_ADMIN)) return { mode: 'oci', why: 'root with CAP_SYS_ADMIN' };
    return { mode: 'chroot', why: 'root without CAP_SYS_ADMIN: no namespaces or mounts' };
  }
  return { mode: 'rootless', why: 'non-root user' };
}

/**
 * Check that `mode` can work in this process before anything runs, with an error that names the
 * missing privilege, the mode that would work and how to get it.
 */
export function checkIsolation(
  mode: Isolation,
  env: NodeJS.ProcessEnv = process.env,
  self: { uid: number; caps: bigint | undefined } = { uid: process.getuid?.() ?? 0, caps: effectiveCaps() },
): void {
  const { uid, caps } = self;
  if (mode === 'oci') {
    if (uid !== 0 || !hasCap(caps, CAP_SYS_ADMIN)) {
      throw new KilnError(
        'ISOLATION_UNAVAILABLE',
        `--isolation oci needs root with CAP_SYS_ADMIN (to mount and create namespaces); this process is ${uid === 0 ? 'root without CAP_SYS_ADMIN' : `uid ${uid}`}`,
        {
          hint:
            uid === 0
              ? 'use --isolation chroot in a container without privileges, or run the container with --privileged'
              : 'use --isolation rootless (a user with subordinate ids in /etc/subuid and /etc/subgid), or run kiln as root',
        },
      );
    }
    return;
  }
  if (mode === 'chroot') {
    if (uid !== 0 || !hasCap(caps, CAP_SYS_CHROOT)) {
      throw new KilnError(
        'ISOLATION_UNAVAILABLE',
        `--isolation chroot needs root with CAP_SYS_CHROOT, CAP_CHOWN and CAP_SETUID (a container's default capabilities); this process is ${uid === 0 ? 'root without CAP_SYS_CHROOT' : `uid ${uid}`}`,
        {
          hint:
            uid === 0
              ? 'run the container with its default capabilities (do not --cap-drop SYS_CHROOT)'
              : 'as a non-root user use --isolation rootless (subordinate ids in /etc/subuid and /etc/subgid)',
        },
      );
    }
    return;
  }
  if (uid === 0 && !inOwnUserNamespace(env)) {
    // Root may run rootless too (runc --rootless, native snapshots), but kiln bind-mounts each
    // step's root and runc makes a user namespace: in a container without privileges mount(2)
    // fails for want of CAP_SYS_ADMIN, and Docker's default seccomp profile refuses
    // unshare(CLONE_NEWUSER) without it. Said here, not as a raw `mount … permission denied`.
    if (!hasCap(caps, CAP_SYS_ADMIN)) {
      throw new KilnError(
        'ISOLATION_UNAVAILABLE',
        "--isolation rootless as root needs CAP_SYS_ADMIN (to bind-mount each step's root; runc --rootless also calls unshare(CLONE_NEWUSER), which Docker's default seccomp profile refuses without it); this process is root without CAP_SYS_ADMIN",
        {
          hint: 'use --isolation chroot (what kiln picks by itself here), or give the container CAP_SYS_ADMIN (--cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined) for oci mode',
        },
      );
    }
    return;
  }
  if (inOwnUserNamespace(env)) return;
  userNamespacePlan();
}

export interface UserNamespacePlan {
  uid: number;
  gid: number;
  uids: SubIdRange;
  gids: SubIdRange;
}

/** The mapping a rootless kiln's user namespace gets, or an error saying what is missing. */
export function userNamespacePlan(): UserNamespacePlan {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const uids = findSubIds('/etc/subuid', uid);
  const gids = findSubIds('/etc/subgid', uid);
  const missing = [!uids && '/etc/subuid', !gids && '/etc/subgid'].filter(Boolean);
  if (missing.length) {
    throw new KilnError(
      'ISOLATION_UNAVAILABLE',
      `--isolation rootless needs subordinate ids for uid ${uid}: none in ${missing.join(' or ')}`,
      {
        hint: `ask an administrator to run: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${userName(uid)} (and apt-get install uidmap); or run kiln as root`,
      },
    );
  }
  for (const bin of ['/usr/bin/newuidmap', '/usr/bin/newgidmap']) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      throw new KilnError(
        'ISOLATION_UNAVAILABLE',
        `--isolation rootless needs ${bin}, which is not installed`,
        {
          hint: 'ask an administrator to install it: apt-get install uidmap (dnf install shadow-utils)',
        },
      );
    }
  }
  return { uid, gid, uids: uids!, gids: gids! };
}

function userName(uid: number): string {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid));
    return line?.split(':')[0] || String(uid);
  } catch {
    return String(uid);
  }
}
