/**
 * The OCI runtime config (spec 1.0.2, as runc 1.1 reads it) for one RUN: Docker's default
 * capabilities, masked and read-only /proc paths, /dev, /proc and a read-only /sys, the
 * generated /etc files, namespaces (a network namespace unless the host's is wanted: a new one
 * for `none`, the one network.ts made for `default`) and the default seccomp filter (seccomp.ts).
 */
import { readFileSync } from 'node:fs';
import type { ExecMount, NetworkMode } from '../executor.ts';
import type { ResolvedUser } from '../user.ts';
import type { Rlimit } from './rlimits.ts';
import { defaultSeccomp } from './seccomp.ts';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** The capabilities Docker and containerd grant by default. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability runc 1.1 knows, by number, for --security=insecure. */
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

/**
 * Only capabilities this process holds in its bounding set can be granted (runc fails with
 * "unable to apply caps" otherwise, e.g. inside a sandbox that dropped CAP_SYS_RESOURCE).
 */
function grantable(caps: string[]): string[] {
  let bounding: bigint;
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapBnd:'));
    bounding = BigInt(`0x${line?.split(/\s+/)[1] ?? 'ffffffffff'}`);
  } catch {
    return caps;
  }
  return caps.filter((c) => (bounding >> BigInt(CAP_NUMBERS[c] ?? 0)) & 1n);
}

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  network: NetworkMode;
  /** The namespace slirp4netns serves, for `default` (network.ts); without it the step is offline. */
  netns?: string;
  /** Host paths of the generated /etc/hosts and /etc/resolv.conf. */
  etc: { hosts: string; resolvConf: string };
  mounts: ExecMount[];
  securityInsecure: boolean;
  cgroupsPath: string;
  /** runc --rootless in kiln's user namespace: no cgroup (the user may not make one), no device rules. */
  rootless?: boolean;
  /** containerRlimits(): the default RLIMIT_NOFILE and the build's `--ulimit`s. */
  rlimits: Rlimit[];
}

/** The system mounts every container gets, before the /etc files and the caller's mounts. */
export function systemMounts(insecure: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', insecure ? 'rw' : 'ro'],
    },
  ];
}

export function toOciMount(m: ExecMount): OciMount {
  if (m.type === 'bind') {
    return {
      destination: m.target,
      type: 'bind',
      source: m.source,
      options: ['rbind', m.readonly ? 'ro' : 'rw'],
    };
  }
  const opts = ['nosuid', 'nodev'];
  if (m.size !== undefined) opts.push(`size=${m.size}`);
  opts.push(`mode=${(m.mode ?? 0o1777).toString(8)}`);
  return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: opts };
}

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const slirp = input.network === 'default';
  // Behind slirp4netns, CAP_NET_RAW would let the step write a frame addressed to 127.0.0.1 straight
  // to the tap device (an AF_PACKET socket), which slirp4netns relays to the host's loopback:
  // --disable-host-loopback only refuses 10.0.2.2. Podman drops it by default too. iputils ping
  // falls back to ICMP datagram sockets, which the sysctl below allows, as Docker and podman do
  // (busybox ping has no such fallback).
  const caps = grantable(
    input.securityInsecure
      ? Object.keys(CAP_NUMBERS)
      : DEFAULT_CAPS.filter((c) => !(slirp && c === 'CAP_NET_RAW')),
  );
  const namespaces: { type: string; path?: string }[] = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
  ];
  // Anything but the host's network is a namespace: a new one, or the one slirp4netns serves.
  if (input.network !== 'host')
    namespaces.push(input.netns ? { type: 'network', path: input.netns } : { type: 'network' });
  // A caller's mount at a system mount's place (`--shm-size`'s /dev/shm) replaces it.
  const own = new Set(input.mounts.map((m) => m.target));
  const mounts: OciMount[] = [
    ...systemMounts(input.securityInsecure).filter((m) => !own.has(m.destination)),
    { destination: '/etc/hosts', type: 'bind', source: input.etc.hosts, options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.etc.resolvConf, options: ['rbind', 'ro'] },
    ...input.mounts.map(toOciMount),
  ];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: input.rlimits,
      // BuildKit leaves no_new_privileges off for RUN: setuid programs (su, sudo, ping) must work.
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      ...(input.rootless ? {} : { cgroupsPath: input.cgroupsPath }),
      namespaces,
      // In a user namespace the kernel refuses a range with unmapped gids; left at its default there.
      ...(slirp && !input.rootless ? { sysctl: { 'net.ipv4.ping_group_range': '0 2147483647' } } : {}),
      // Deny all devices except the defaults runc always adds (null, zero, full, tty, random, urandom, pts).
      ...(input.rootless ? {} : { resources: { devices: [{ allow: false, access: 'rwm' }] } }),
      ...(input.securityInsecure
        ? {}
        : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS, seccomp: defaultSeccomp(caps) }),
    },
  };
}
