/** A busybox rootfs for executor tests, built from the fixture binary scripts/setup.sh installs. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay/overlay.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';

export const FIXTURES = '/var/cache/kiln-fixtures';

/** Fill `dir` with busybox for `arch`, its applet symlinks, and /etc/passwd + /etc/group. */
export async function makeBusyboxRootfs(dir: string, arch: 'amd64' | 'arm64' = 'amd64'): Promise<void> {
  const bin = path.join(FIXTURES, `busybox-${arch}`);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/setup.sh`);
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'home/app']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
  }
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.copyFile(bin, path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  // `busybox --install -s` done from the host: the applet list comes from the amd64 binary
  // (same busybox version for both architectures), the links point at /bin/busybox.
  const list = execFileSync(path.join(FIXTURES, 'busybox-amd64'), ['--list'], { encoding: 'utf8' });
  for (const applet of list.split('\n').filter(Boolean)) {
    if (applet === 'busybox') continue;
    await fs.symlink('/bin/busybox', path.join(dir, 'bin', applet)).catch(() => undefined);
  }
  await fs.writeFile(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app user:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await fs.writeFile(
    path.join(dir, 'etc/group'),
    'root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,root\nnogroup:x:65534:\n',
  );
  await fs.chown(path.join(dir, 'home/app'), 1000, 1000);
}

/** An overlay snapshotter with a committed busybox base snapshot named `base` (and `base-arm64`). */
export async function busyboxSnapshots(root: string): Promise<Snapshotter> {
  const snap = await OverlaySnapshotter.open(root);
  for (const arch of ['amd64', 'arm64'] as const) {
    const key = `prep-${arch}`;
    await snap.prepare(key);
    await snap.withMounted(key, (dir) => makeBusyboxRootfs(dir, arch));
    await snap.commit(arch === 'amd64' ? 'base' : 'base-arm64', key);
  }
  return snap;
}

/** Collects output chunks for assertions. */
export function collector(): { sink: (c: Buffer) => void; text: () => string } {
  const chunks: Buffer[] = [];
  return { sink: (c) => chunks.push(c), text: () => Buffer.concat(chunks).toString('utf8') };
}
