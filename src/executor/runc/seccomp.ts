/**
 * The seccomp filter of RUN steps: Docker's default profile (seccomp-profile.ts, moby/profiles
 * 02e898b137ae), resolved the way moby's setupSeccomp does for one container — an allow-list whose
 * default refuses with EPERM, the host's architectures, and only the rules whose capability, arch
 * and kernel conditions hold for the capabilities RUN is given. A system call numbered past the
 * last one the filter names (as runc's libseccomp knows them) gets ENOSYS from runc's stub instead,
 * so a libc newer than the host falls back as it does under Docker. `RUN --security=insecure` runs
 * without a filter.
 */
import { release } from 'node:os';
import { hostPlatform } from '../../oci/platform.ts';
import { ARCH_MAP, type Condition, EPERM, PROFILE, type SeccompArg } from './seccomp-profile.ts';

/** The OCI runtime spec's `linux.seccomp`, as runc reads it. */
export interface LinuxSeccomp {
  defaultAction: 'SCMP_ACT_ERRNO';
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: {
    names: string[];
    action: string;
    errnoRet?: number;
    args?: SeccompArg[];
  }[];
}

/** What the rules are resolved against. */
export interface SeccompHost {
  /** libseccomp's name of the host architecture (`amd64`, `arm64`, ...). */
  arch: string;
  /** The running kernel's major and minor version. */
  kernel: readonly [number, number];
}

/** OCI architecture names that libseccomp spells differently. */
const NATIVE_ARCH: Record<string, string> = { '386': 'x86', mips64le: 'mipsel64' };

/** The machine kiln runs on: emulated RUN steps go through the host's qemu, so its arch is the one filtered. */
export function currentHost(): SeccompHost {
  const arch = hostPlatform().architecture;
  const m = /^(\d+)\.(\d+)/.exec(release());
  return { arch: NATIVE_ARCH[arch] ?? arch, kernel: m ? [Number(m[1]), Number(m[2])] : [0, 0] };
}

function atLeast(kernel: readonly [number, number], min: readonly [number, number]): boolean {
  return kernel[0] > min[0] || (kernel[0] === min[0] && kernel[1] >= min[1]);
}

/** moby's includes: every condition given must hold. */
function included(c: Condition | undefined, caps: ReadonlySet<string>, host: SeccompHost): boolean {
  if (!c) return true;
  if (c.arches?.length && !c.arches.includes(host.arch)) return false;
  if (c.caps?.some((cap) => !caps.has(cap))) return false;
  return !c.minKernel || atLeast(host.kernel, c.minKernel);
}

/** moby's excludes: any condition that holds drops the rule. */
function excluded(c: Condition | undefined, caps: ReadonlySet<string>, host: SeccompHost): boolean {
  if (!c) return false;
  if (c.arches?.includes(host.arch)) return true;
  if (c.caps?.some((cap) => caps.has(cap))) return true;
  return c.minKernel !== undefined && atLeast(host.kernel, c.minKernel);
}

/**
 * The OCI runtime spec's `linux.seccomp` for a RUN holding `caps` (its bounding set, which is
 * what moby matches the profile's capability conditions against).
 */
export function defaultSeccomp(caps: readonly string[], host: SeccompHost = currentHost()): LinuxSeccomp {
  const held = new Set(caps);
  const syscalls: LinuxSeccomp['syscalls'] = [];
  for (const rule of PROFILE) {
    if (excluded(rule.excludes, held, host) || !included(rule.includes, held, host)) continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args ? { args: rule.args.map((a) => ({ ...a })) } : {}),
    });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [...(ARCH_MAP[host.arch] ?? [])],
    syscalls,
  };
}
