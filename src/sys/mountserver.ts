/**
 * mount(2), umount2(2), posix_fadvise(2) and llistxattr(2) for kiln, made by one perl process it
 * keeps (a LineServer, lineserver.ts). Node cannot make these calls, and mount(8) or umount(8)
 * started for each (from the fork server) cost 15–25 ms a call on a VM where starting a process is
 * dear: the exec of util-linux's programs with their libraries, libmount reading
 * /proc/self/mountinfo.
 * A RUN mounts and unmounts its rootfs, a `COPY --from` its source and its destination, all on
 * the build's critical path. Here a call is a line written and a line read back.
 *
 * Why perl: it is on every Debian and Ubuntu host (perl-base is Essential) and its `syscall`
 * makes any system call with the arguments given, strings as pointers to their bytes; no
 * compiled helper ships with kiln. `available()` is false where there is no perl or kiln does not
 * know the architecture's call numbers; snapshot/mount.ts then runs mount(8) and umount(8).
 *
 * The protocol: `<id> m <flags> <source> <target> <fstype> <data> <cwd>`,
 * `<id> u <flags> <target> [<nice>]`, `<id> f <advice> <file> <offset> <length> <open flags>` or
 * `<id> l 0 <path>`, each string hex-encoded (no byte of a path is read as syntax; `-` for a NULL
 * pointer), answered `<id> <errno>` (0: done); a listing `<id> 0 <names>`, hex, NUL-separated.
 * A mount is made in the perl process itself (a fraction of a millisecond; `cwd` is where relative
 * lowerdirs resolve, and perl goes back to / after), an unmount in a child it forks (at `nice`,
 * when given): unmounting a filesystem with an upper directory syncs it, which can take seconds
 * that no other mount should wait behind. An advice opens the file itself, with
 * the open flags kiln gives.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { decodeName, encodeName } from './fsname.ts';
import { LineServer } from './lineserver.ts';

/** mount(2) flags kiln passes (linux/mount.h). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** umount2(2) flags. */
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

/** The call numbers of the architectures kiln knows (asm-generic and x86_64 unistd.h). */
const CALLS: Partial<
  Record<string, { mount: number; umount2: number; fadvise: number; llistxattr: number }>
> = {
  // fadvise64 on x86_64; fadvise64_64 in asm-generic, the same arguments on a 64-bit machine.
  x64: { mount: 165, umount2: 166, fadvise: 221, llistxattr: 195 },
  arm64: { mount: 40, umount2: 39, fadvise: 223, llistxattr: 12 },
};

/*
 * The perl side: no module loaded (starts in a few ms); a mount answered in line, an unmount from
 * a forked child (its answer is one short write, atomic on the pipe), children reaped as requests
 * come and all of them waited for once kiln's end closes the input.
 */
const SCRIPT = `
my ($MOUNT, $UMOUNT2, $FADVISE, $LLISTXATTR) = @ARGV;
chdir('/');
sub arg { my $h = shift; return $h eq '-' ? 0 : pack('H*', $h); }
sub answer { my ($id, $r, $e) = @_; syswrite(STDOUT, "$id " . ($r == 0 ? 0 : ($e || 5)) . "\\n"); }
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($id, $op, $flags, @a) = split(/ /, $line, -1);
  $flags += 0;
  if ($op eq 'm') {
    my ($src, $tgt, $type, $data) = map { arg($_) } @a[0..3];
    if ($a[4] ne '-' && !chdir(pack('H*', $a[4]))) { answer($id, -1, $! + 0); next; }
    my $r = syscall($MOUNT, $src, $tgt, $type, $flags, $data);
    my $e = $! + 0;
    chdir('/');
    answer($id, $r, $e);
  } elsif ($op eq 'u') {
    my $tgt = arg($a[0]);
    my $pid = fork();
    if (!defined $pid) { answer($id, -1, $! + 0); next; }
    if ($pid == 0) {
      setpriority(0, 0, $a[1] + 0) if defined $a[1];
      my $r = syscall($UMOUNT2, $tgt, $flags);
      answer($id, $r, $! + 0);
      exit(0);
    }
  } elsif ($op eq 'f') {
    my $fh;
    if (!sysopen($fh, arg($a[0]), $a[3] + 0)) { answer($id, -1, $! + 0); next; }
    my $r = syscall($FADVISE, fileno($fh), $a[1] + 0, $a[2] + 0, $flags);
    my $e = $! + 0;
    close($fh);
    answer($id, $r, $e);
  } elsif ($op eq 'l') {
    my $names = "\\0" x 65536;
    my $n = syscall($LLISTXATTR, arg($a[0]), $names, 65536);
    if ($n < 0) { answer($id, -1, $! + 0); next; }
    syswrite(STDOUT, "$id 0 " . unpack('H*', substr($names, 0, $n)) . "\\n");
  } else {
    answer($id, -1, 22);
  }
  1 while waitpid(-1, 1) > 0;
}
1 while wait() > 0;
`;

type Call = 'mount' | 'umount2' | 'fadvise64' | 'llistxattr';

/** A failed call: `code` is the errno's name (ENOENT, EBUSY…), as Node's own errors carry it. */
export class MountCallError extends Error {
  readonly code: string;
  readonly syscall: Call;
  readonly errno: number;
  constructor(syscall: Call, errno: number) {
    // An errno's name, as Node's system errors carry it: not one of kiln's error codes.
    const code = getSystemErrorName(-errno);
    const message = `${syscall}: ${getSystemErrorMessage(-errno)} (${code})`;
    super(message);
    this.code = code;
    this.syscall = syscall;
    this.errno = errno;
  }
}

let perl: string | null | undefined;

/** perl's path on PATH, once looked up; null when there is none. */
function findPerl(): string | null {
  if (perl !== undefined) return perl;
  perl = null;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir.startsWith('/')) continue;
    const file = path.join(dir, 'perl');
    try {
      accessSync(file, constants.X_OK);
      perl = file;
      break;
    } catch {}
  }
  return perl;
}

/** Whether mounts can be made here; false turns snapshot/mount.ts to mount(8). */
export function available(): boolean {
  return CALLS[process.arch] !== undefined && findPerl() !== null;
}

let server: LineServer | undefined;

function start(): LineServer {
  const calls = CALLS[process.arch];
  const bin = findPerl();
  if (!calls || !bin) throw new Error('the mount server is not available here');
  // An empty environment: nothing of the user's (PERL5OPT, PERL5LIB) reaches the process that
  // mounts.
  return new LineServer(
    'the mount server (perl)',
    bin,
    ['-e', SCRIPT, ...[calls.mount, calls.umount2, calls.fadvise, calls.llistxattr].map(String)],
    { PATH: '/usr/bin:/bin' },
    (ended) => {
      if (server === ended) server = undefined;
    },
  );
}

/** A string's bytes as hex (a byte kept as U+DC00+byte, fsname.ts, goes as that byte). */
function hex(s: string | undefined): string {
  if (s === undefined) return '-';
  if (s.includes('\0')) throw new TypeError('a mount argument cannot contain a NUL byte');
  return encodeName(s).toString('hex');
}

async function call(syscall: Call, request: string): Promise<string> {
  server ??= start();
  const s = server;
  const id = s.nextId();
  const answer = await s.ask(id, `${id} ${request}\n`);
  if (answer.number !== 0) throw new MountCallError(syscall, answer.number);
  return answer.text;
}

export interface MountCall {
  /** NULL when absent (a remount). */
  source?: string;
  target: string;
  /** NULL when absent (bind mounts, remounts). */
  fstype?: string;
  flags: number;
  /** The filesystem's own options; NULL when absent. */
  data?: string;
  /** Where relative paths in `data` and `target` resolve (containerd's short lowerdirs). */
  cwd?: string;
}

/** mount(2); rejects with a MountCallError for the kernel's refusal. */
export async function mount(c: MountCall): Promise<void> {
  const strings = [c.source, c.target, c.fstype, c.data, c.cwd].map(hex).join(' ');
  await call('mount', `m ${c.flags} ${strings}`);
}

/**
 * umount2(2) with `flags` (MNT_DETACH, UMOUNT_NOFOLLOW). `nice` (0-19) for an unmount nobody waits
 * for: the kernel's teardown of a big overlay runs in the calling process (~100 ms of CPU after an
 * `apt-get install`), and at 19 it takes the CPU only where the build leaves it idle.
 */
export async function umount(target: string, flags: number, nice?: number): Promise<void> {
  await call('umount2', `u ${flags} ${hex(target)}${nice === undefined ? '' : ` ${nice}`}`);
}

/**
 * The names of `file`'s extended attributes, a symlink's own (llistxattr(2)); at most 64 KiB of
 * names (the kernel's limit for a list), ERANGE beyond.
 */
export async function listXattrs(file: string): Promise<string[]> {
  const names = Buffer.from(await call('llistxattr', `l 0 ${hex(file)}`), 'hex');
  return names.length === 0 ? [] : decodeNames(names.subarray(0, -1));
}

/** NUL-separated names (the last one's NUL taken off) as strings, bytes kept (fsname.ts). */
function decodeNames(list: Buffer): string[] {
  const out: string[] = [];
  let from = 0;
  for (let nul = list.indexOf(0); nul >= 0; nul = list.indexOf(0, from)) {
    out.push(decodeName(list.subarray(from, nul)));
    from = nul + 1;
  }
  out.push(decodeName(list.subarray(from)));
  return out;
}

/** The running server's process (tests). */
export function mountServerPid(): number | undefined {
  return server?.pid;
}

/** posix_fadvise(2)'s advice that the range will not be read again. */
const POSIX_FADV_DONTNEED = 4;

/**
 * Drop the cached pages of `length` bytes at `offset` of regular file `file` (kiln's own, a blob
 * of the store): posix_fadvise(POSIX_FADV_DONTNEED), which drops clean pages and starts the
 * writeback of dirty ones. Advice: a failure changes nothing but the page cache.
 */
export async function dropCached(file: string, offset: number, length: number): Promise<void> {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  await call('fadvise64', `f ${POSIX_FADV_DONTNEED} ${hex(file)} ${offset} ${length} ${flags}`);
}
