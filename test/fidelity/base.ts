/**
 * The one base image every builder in the fidelity corpus and the benchmarks starts from: a
 * busybox rootfs made from Debian's busybox-static, written as a deterministic tar so that
 * BuildKit (`docker import`), buildah (`buildah from docker-archive`) and kiln (`kiln image
 * import`) all see byte-identical layers.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const BUSYBOX_BINARY = '/var/cache/kiln-fixtures/busybox-amd64';
export const BASE_IMAGE_NAME = 'busybox:latest';
const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** Run scripts/setup.sh when the busybox fixture is missing (it installs busybox-static). */
export function ensureBusyboxFixture(): void {
  if (existsSync(BUSYBOX_BINARY)) return;
  execFileSync('bash', [join(REPO_ROOT, 'scripts/setup.sh')], { stdio: 'inherit' });
  if (!existsSync(BUSYBOX_BINARY)) throw new Error(`scripts/setup.sh did not provide ${BUSYBOX_BINARY}`);
}

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n';

/**
 * Write the busybox rootfs tar to `dest` (idempotent: an existing file is kept). Entries are
 * sorted, owned by 0:0 (home/app by 1000:1000) and dated 2020-01-01, so the tar is reproducible.
 */
export function buildBusyboxRootfs(dest: string): string {
  if (existsSync(dest)) return dest;
  ensureBusyboxFixture();
  const work = mkdtempSync(join(tmpdir(), 'kiln-busybox-'));
  try {
    const root = join(work, 'root');
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home/app', 'tmp', 'var']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    execFileSync('install', ['-m', '0755', BUSYBOX_BINARY, join(root, 'bin/busybox')]);
    const applets = execFileSync(BUSYBOX_BINARY, ['--list-full'], { encoding: 'utf8' }).split('\n');
    for (const applet of applets) {
      if (applet === '' || applet === 'bin/busybox') continue;
      const target = join(root, applet);
      mkdirSync(dirname(target), { recursive: true });
      if (!existsSync(target)) symlinkSync('/bin/busybox', target);
    }
    writeFileSync(join(root, 'etc/passwd'), PASSWD, { mode: 0o644 });
    writeFileSync(join(root, 'etc/group'), GROUP, { mode: 0o644 });
    chmodSync(join(root, 'tmp'), 0o1777);
    chmodSync(join(root, 'root'), 0o700);
    mkdirSync(dirname(dest), { recursive: true });
    const tmp = `${dest}.tmp`;
    execFileSync('tar', [
      '--create',
      `--file=${tmp}`,
      '--sort=name',
      '--format=pax',
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '--mtime=2020-01-01 00:00:00Z',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      `--directory=${root}`,
      '--exclude=./home/app',
      '.',
    ]);
    // home/app belongs to app:app; append it with its own owner.
    execFileSync('tar', [
      '--append',
      `--file=${tmp}`,
      '--format=pax',
      '--numeric-owner',
      '--owner=1000',
      '--group=1000',
      '--mtime=2020-01-01 00:00:00Z',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      `--directory=${root}`,
      '--no-recursion',
      './home/app',
    ]);
    renameSync(tmp, dest);
    return dest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
