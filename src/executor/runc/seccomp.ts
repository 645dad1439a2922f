/**
 * The seccomp filter of RUN steps: the system calls Docker's default profile keeps from
 * unprivileged containers (https://docs.docker.com/engine/security/seccomp/, "Significant
 * syscalls blocked by the default profile"), refused with EPERM. It is written as a deny list
 * over an allow-by-default filter rather than Docker's allow list, so a system call newer than
 * the list (a new libc using it) still works; what it blocks are the calls that reach the kernel's
 * global state — modules, clocks, keyrings, swap, reboot, mounts and namespaces, tracing other
 * processes, BPF. `RUN --security=insecure` runs without it, as Docker's privileged mode does.
 */
import { hostPlatform } from '../../oci/platform.ts';

const EPERM = 1;
const ENOSYS = 38;

/** Refused outright. */
const DENIED = [
  'acct',
  'add_key',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'get_kernel_syms',
  'get_mempolicy',
  'init_module',
  'ioperm',
  'iopl',
  'kcmp',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'mbind',
  'mount',
  'move_mount',
  'fsopen',
  'fsmount',
  'fsconfig',
  'fspick',
  'open_tree',
  'move_pages',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'perf_event_open',
  'pivot_root',
  'process_vm_readv',
  'process_vm_writev',
  'ptrace',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'set_mempolicy',
  'setns',
  'settimeofday',
  'stime',
  'swapoff',
  'swapon',
  'sysfs',
  '_sysctl',
  'umount',
  'umount2',
  'unshare',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
];

/** clone() flags that create namespaces: refused, as Docker does without CAP_SYS_ADMIN. */
const NAMESPACE_FLAGS = [
  0x00020000, // CLONE_NEWNS
  0x02000000, // CLONE_NEWCGROUP
  0x04000000, // CLONE_NEWUTS
  0x08000000, // CLONE_NEWIPC
  0x10000000, // CLONE_NEWUSER
  0x20000000, // CLONE_NEWPID
  0x40000000, // CLONE_NEWNET
];

/** The seccomp architectures of the host (emulated RUN goes through the host's qemu). */
function architectures(): string[] {
  switch (hostPlatform().architecture) {
    case 'amd64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default:
      return [];
  }
}

/** The OCI runtime spec's `linux.seccomp` for RUN. */
export function defaultSeccomp(): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: architectures(),
    syscalls: [
      { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // clone's flags are its first argument (except on s390, which kiln does not target).
      ...NAMESPACE_FLAGS.map((flag) => ({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
      // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}
