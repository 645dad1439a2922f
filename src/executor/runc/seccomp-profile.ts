/**
 * Docker's default seccomp profile as data: the moby/profiles `seccomp/default_linux.go` of commit
 * 02e898b137ae (2026; the profile Docker Engine 29 ships, with AF_ALG refused after
 * CVE-2026-31431), transcribed rule for rule — names, argument filters, and the arch, capability
 * and kernel conditions under which each rule applies. seccomp.ts turns it into a runc filter.
 */

/** A comparison on one system-call argument, as the OCI runtime spec writes it. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_EQ' | 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_MASKED_EQ';
}

/** When a rule applies: every listed cap held / the host arch listed / the kernel at least this. */
export interface Condition {
  caps?: readonly string[];
  /** libseccomp's native arch names (`amd64`, `arm64`, `x86`, `s390x`, ...). */
  arches?: readonly string[];
  minKernel?: readonly [number, number];
}

export interface ProfileRule {
  names: readonly string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: readonly SeccompArg[];
  /** The rule applies only when all of these hold. */
  includes?: Condition;
  /** The rule is dropped when any of these holds (any cap held, the host arch listed). */
  excludes?: Condition;
}

export const EPERM = 1;
export const ENOSYS = 38;

const words = (s: string): string[] => s.trim().split(/\s+/);

/** Allowed for every container, whatever its capabilities. */
const ALWAYS = words(`
  accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
  dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
  fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
  fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
  futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
  geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
  getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
  get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
  getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
  io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set
  io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
  lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr _llseek
  lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create
  memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall
  munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
  pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
  pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe
  rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
  sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
  sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
  sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
  semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid
  setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
  setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
  set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
  setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync
  sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
  timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
  timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
  umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4
  waitid waitpid write writev
`);

/**
 * The socket(2) domains Docker allows: every AF_* the kernel still implements except AF_ALG (38,
 * the kernel crypto API, CVE-2026-31431) and AF_VSOCK (40, host/guest sockets). Gaps are domains
 * the kernel removed (12 DECnet, 19 Econet, 20 ATMSVC, 23 IrDA, 25 WANPIPE, 34 ISDN, 37 CAIF).
 */
export const SOCKET_DOMAINS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35,
  36, 39, 41, 42, 43, 44, 45,
];

/**
 * socket(2) rules for the allowed domains, as Docker writes them: runc ORs the rules of one call
 * but ANDs the comparisons inside a rule, so the leading run 1..n becomes `domain < n+1` and every
 * later domain an equality of its own.
 */
function socketRules(domains: readonly number[]): ProfileRule[] {
  const sorted = [...domains].sort((a, b) => a - b);
  const rule = (value: number, op: SeccompArg['op']): ProfileRule => ({
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value, op }],
  });
  let run = 0;
  if (sorted[0] === 1 && sorted[1] === 2) {
    run = 1;
    while (run < sorted.length && sorted[run] === sorted[run - 1] + 1) run++;
  }
  const out = run > 0 ? [rule(sorted[run - 1] + 1, 'SCMP_CMP_LT')] : [];
  for (const d of sorted.slice(run)) out.push(rule(d, 'SCMP_CMP_EQ'));
  return out;
}

/** personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 with each, and the query. */
const PERSONALITIES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

/** CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: clone may create no namespace. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const allow = (names: string, includes?: Condition): ProfileRule => ({
  names: words(names),
  action: 'SCMP_ACT_ALLOW',
  ...(includes ? { includes } : {}),
});

/** The profile's rules, in Docker's order. */
export const PROFILE: readonly ProfileRule[] = [
  { names: ALWAYS, action: 'SCMP_ACT_ALLOW' },
  allow('process_vm_readv process_vm_writev ptrace', { minKernel: [4, 8] }),
  ...socketRules(SOCKET_DOMAINS),
  ...PERSONALITIES.map(
    (value): ProfileRule => ({
      names: ['personality'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }],
    }),
  ),
  allow('sync_file_range2 swapcontext', { arches: ['ppc64le'] }),
  allow('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls', {
    arches: ['arm', 'arm64'],
  }),
  allow('arch_prctl', { arches: ['amd64', 'x32'] }),
  allow('modify_ldt', { arches: ['amd64', 'x32', 'x86'] }),
  allow('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr', { arches: ['s390', 's390x'] }),
  allow('riscv_flush_icache', { arches: ['riscv64'] }),
  allow('open_by_handle_at', { caps: ['CAP_DAC_READ_SEARCH'] }),
  allow(
    `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
     lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open
     quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`,
    { caps: ['CAP_SYS_ADMIN'] },
  ),
  {
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
  },
  {
    // s390 passes clone's flags second.
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    includes: { arches: ['s390', 's390x'] },
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  },
  {
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    names: ['clone3'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: ENOSYS,
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  },
  allow('reboot', { caps: ['CAP_SYS_BOOT'] }),
  allow('chroot', { caps: ['CAP_SYS_CHROOT'] }),
  allow('delete_module init_module finit_module', { caps: ['CAP_SYS_MODULE'] }),
  allow('acct', { caps: ['CAP_SYS_PACCT'] }),
  allow('kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace', {
    caps: ['CAP_SYS_PTRACE'],
  }),
  allow('iopl ioperm', { caps: ['CAP_SYS_RAWIO'] }),
  allow('settimeofday stime clock_settime clock_settime64', { caps: ['CAP_SYS_TIME'] }),
  allow('vhangup', { caps: ['CAP_SYS_TTY_CONFIG'] }),
  allow('get_mempolicy mbind set_mempolicy set_mempolicy_home_node', { caps: ['CAP_SYS_NICE'] }),
  allow('syslog', { caps: ['CAP_SYSLOG'] }),
  allow('bpf', { caps: ['CAP_BPF'] }),
  allow('perf_event_open', { caps: ['CAP_PERFMON'] }),
];

/** The filter's architectures by native arch: the host's own and the ones it can also execute. */
export const ARCH_MAP: Readonly<Record<string, readonly string[]>> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  mips64: ['SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'],
  mips64n32: ['SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'],
  mipsel64: ['SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'],
  mipsel64n32: ['SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  loong64: ['SCMP_ARCH_LOONGARCH64'],
};
