/**
 * The OCI runtime config (spec 1.0.2, as runc 1.1 reads it) for one RUN: Docker's default
 * capabilities, masked and read-only /proc paths, /dev, /proc and a read-only /sys, the
 * generated /etc files, and namespaces (a network namespace unless the host's is wanted).
 */
import { readFileSync } from 'node:fs';
import type { ExecMount, NetworkMode } from '../executor.ts';
import type { ResolvedUser } from '../user.ts';

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

/** Every capability runc 1.1 knows, for --security=insecure. */
const ALL_CAPS = [
  ...DEFAULT_CAPS,
  'CAP_DAC_READ_SEARCH',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_LEASE',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

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
  /** Host paths of the generated /etc/hosts, /etc/resolv.conf and /etc/hostname. */
  etc: { hosts: string; resolvConf: string; hostname: string };
  mounts: ExecMount[];
  securityInsecure: boolean;
  cgroupsPath: string;
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
  const nofile = nofileLimit();
  const caps = input.securityInsecure ? ALL_CAPS : DEFAULT_CAPS;
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  const mounts: OciMount[] = [
    ...systemMounts(input.securityInsecure),
    { destination: '/etc/hosts', type: 'bind', source: input.etc.hosts, options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.etc.resolvConf, options: ['rbind', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: input.etc.hostname, options: ['rbind', 'ro'] },
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
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: !input.securityInsecure,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      cgroupsPath: input.cgroupsPath,
      namespaces,
      // Deny all devices except the defaults runc always adds (null, zero, full, tty, random, urandom, pts).
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      ...(input.securityInsecure ? {} : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
    },
  };
}

/**
 * RLIMIT_NOFILE for the container: Docker's 1048576, capped at this process's hard limit, since
 * runc applies it after dropping CAP_SYS_RESOURCE and so cannot raise it.
 */
function nofileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard && /^\d+$/.test(hard)) return Math.min(1048576, Number(hard));
  } catch {
    // Not Linux /proc: keep the default.
  }
  return 1048576;
}
