/**
 * Executor test rig: a busybox rootfs built from the fixture binary scripts/setup.sh installs,
 * snapshots over it, a runc executor on a temp state root, and probes for what a run leaves.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { NetworkMode } from '../../../src/executor/executor.ts';
import { RuncExecutor } from '../../../src/executor/runc/runc.ts';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay/overlay.ts';
import type { Mount, Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { forkServerPid } from '../../../src/sys/forkserver.ts';

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

/**
 * Processes whose environment holds `entry` (KEY=value): everything kiln started for a test
 * that sets a unique variable inherits it, including what outlived its parent.
 */
export function processesWithEnv(entry: string): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    // This process's fork server is kiln's own (sys/forkserver.ts): it ends with the process.
    if (!Number.isInteger(pid) || pid === process.pid || pid === forkServerPid()) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry)) continue;
      found.push({ pid, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

export interface ExecutorRig {
  tmp: string;
  snap: Snapshotter;
  /** The executor's state root (runc state, bundles). */
  stateRoot: string;
  exec: RuncExecutor;
  close(): Promise<void>;
}

/** A temp dir with busybox snapshots (`base`, `base-arm64`) and a runc executor. */
export async function openExecutorRig(prefix: string): Promise<ExecutorRig> {
  execFileSync('runc', ['--version']);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const stateRoot = path.join(tmp, 'state');
  return {
    tmp,
    snap: await busyboxSnapshots(path.join(tmp, 'snapshots')),
    stateRoot,
    exec: new RuncExecutor({ stateRoot }),
    close: () => fs.rm(tmp, { recursive: true, force: true }),
  };
}

/**
 * Run `sh -c 'echo started; sleep 60'` through a RuncExecutor in another Node process that
 * SIGKILLs itself at the first output: a kiln killed mid-RUN. `whileRunning` is called every few
 * ms until it is dead.
 */
export async function runUntilKilled(
  stateRoot: string,
  rootfs: Mount[],
  network: NetworkMode = 'none',
  whileRunning?: () => void,
): Promise<void> {
  const script = `
    const { RuncExecutor } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../../src/executor/runc/runc.ts'))});
    const ex = new RuncExecutor({ stateRoot: ${JSON.stringify(stateRoot)} });
    await ex.run({ rootfs: ${JSON.stringify(rootfs)}, args: ['sh', '-c', 'echo started; sleep 60'], network: '${network}' },
      { stdout: () => process.kill(process.pid, 'SIGKILL') });`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    const watch = whileRunning && setInterval(whileRunning, 5);
    child.on('exit', (_code, signal) => {
      clearInterval(watch);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error('the child exited without SIGKILL'));
    });
  });
}

/** The containers runc knows under `stateRoot`. */
export function runcContainers(stateRoot: string): string {
  return execFileSync('runc', ['--root', path.join(stateRoot, 'runc'), 'list', '-q'], {
    encoding: 'utf8',
  }).trim();
}

/** How many nsfs (namespace) mounts this mount namespace has: a namespace kept alive by a file. */
export async function nsfsMounts(): Promise<number> {
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').filter((l) => / - nsfs /.test(l)).length;
}
