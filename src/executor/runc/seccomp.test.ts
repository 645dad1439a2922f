import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultSeccomp, type LinuxSeccomp, type SeccompHost } from './seccomp.ts';
import { DEFAULT_CAPS } from './spec.ts';

const AMD64: SeccompHost = { arch: 'amd64', kernel: [6, 1] };
const ARM64: SeccompHost = { arch: 'arm64', kernel: [6, 1] };

/** What the filter does with `name(arg0)`: runc ORs the rules of a call and ANDs their comparisons. */
function verdict(f: LinuxSeccomp, name: string, arg0 = 0): string {
  for (const rule of f.syscalls) {
    if (!rule.names.includes(name)) continue;
    const matches = (rule.args ?? []).every((a) => {
      const v = a.index === 0 ? arg0 : 0;
      if (a.op === 'SCMP_CMP_EQ') return v === a.value;
      if (a.op === 'SCMP_CMP_NE') return v !== a.value;
      if (a.op === 'SCMP_CMP_LT') return v < a.value;
      return (v & a.value) === (a.valueTwo ?? 0);
    });
    if (matches) return rule.action === 'SCMP_ACT_ALLOW' ? 'allow' : `errno ${rule.errnoRet}`;
  }
  return `errno ${f.defaultErrnoRet}`;
}

const allowed = (f: LinuxSeccomp, name: string, arg0 = 0) => verdict(f, name, arg0) === 'allow';

describe('RUN seccomp filter (Docker’s default profile)', () => {
  const run = defaultSeccomp(DEFAULT_CAPS, AMD64);

  it('refuses by default with EPERM and filters the host’s architectures', () => {
    assert.equal(run.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(run.defaultErrnoRet, 1);
    assert.deepEqual(run.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(defaultSeccomp(DEFAULT_CAPS, ARM64).architectures, [
      'SCMP_ARCH_AARCH64',
      'SCMP_ARCH_ARM',
    ]);
    assert.deepEqual(defaultSeccomp(DEFAULT_CAPS, { arch: 'ppc64le', kernel: [6, 1] }).architectures, []);
  });

  it('allows the everyday calls and nothing outside the list', () => {
    for (const name of ['read', 'openat', 'execve', 'fork', 'wait4', 'mknodat', 'fchownat', 'statx', 'futex'])
      assert.ok(allowed(run, name), name);
    for (const name of [
      'io_uring_setup',
      'keyctl',
      'add_key',
      'kexec_load',
      'userfaultfd',
      'swapon',
      'uselib',
    ])
      assert.equal(verdict(run, name), 'errno 1', name);
  });

  it('allows clone only without namespace flags, and answers clone3 with ENOSYS', () => {
    const CLONE_VM = 0x100;
    assert.ok(allowed(run, 'clone', CLONE_VM));
    for (const flag of [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000])
      assert.equal(verdict(run, 'clone', CLONE_VM | flag), 'errno 1', flag.toString(16));
    assert.equal(verdict(run, 'clone3'), 'errno 38');
  });

  it('allows personality only with Docker’s values', () => {
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff])
      assert.ok(allowed(run, 'personality', p), p.toString(16));
    assert.equal(verdict(run, 'personality', 0x40000), 'errno 1', 'ADDR_NO_RANDOMIZE');
  });

  it('allows the socket domains the kernel implements except AF_ALG and AF_VSOCK', () => {
    for (const af of [1, 2, 10, 16, 17, 39, 45]) assert.ok(allowed(run, 'socket', af), `AF ${af}`);
    // (AF_UNSPEC, 0, passes `< 12` as in Docker's filter: the kernel creates no socket of it.)
    for (const af of [12, 38, 40, 46]) assert.equal(verdict(run, 'socket', af), 'errno 1', `AF ${af}`);
  });

  it('includes a capability’s group only when RUN holds the capability', () => {
    assert.ok(allowed(run, 'chroot'), 'CAP_SYS_CHROOT is a default capability');
    for (const name of [
      'mount',
      'unshare',
      'setns',
      'sethostname',
      'bpf',
      'init_module',
      'kcmp',
      'pidfd_getfd',
    ])
      assert.equal(verdict(run, name), 'errno 1', name);
    const admin = defaultSeccomp([...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], AMD64);
    assert.ok(allowed(admin, 'mount') && allowed(admin, 'unshare') && allowed(admin, 'clone3'));
    assert.ok(allowed(admin, 'clone', 0x10000000), 'CAP_SYS_ADMIN lifts the clone flag rule');
    const ptrace = defaultSeccomp([...DEFAULT_CAPS, 'CAP_SYS_PTRACE'], AMD64);
    assert.ok(allowed(ptrace, 'kcmp') && allowed(ptrace, 'pidfd_getfd'));
    assert.ok(allowed(defaultSeccomp(['CAP_SYS_MODULE'], AMD64), 'finit_module'));
  });

  it('includes ptrace from kernel 4.8 and the arch-specific calls of the host only', () => {
    assert.ok(allowed(run, 'ptrace') && allowed(run, 'process_vm_readv'));
    assert.equal(
      verdict(defaultSeccomp(DEFAULT_CAPS, { arch: 'amd64', kernel: [4, 7] }), 'ptrace'),
      'errno 1',
    );
    assert.ok(allowed(run, 'arch_prctl') && allowed(run, 'modify_ldt'));
    assert.equal(verdict(run, 'set_tls'), 'errno 1');
    const arm = defaultSeccomp(DEFAULT_CAPS, ARM64);
    assert.ok(allowed(arm, 'set_tls') && allowed(arm, 'cacheflush'));
    assert.equal(verdict(arm, 'arch_prctl'), 'errno 1');
  });
});
