/**
 * The runc executor against real runc, overlayfs and a busybox rootfs: output, exit status,
 * user/env/cwd, networking none and host (the default network: network.test.ts), /etc files that
 * never reach the layer, the hostname, abort, parallel runs, qemu.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectEntries } from '../../../src/archive/tree-entries.ts';
import { hasCode } from '../../../src/errors/errors.ts';
import type { ExecSpec } from '../../../src/executor/executor.ts';
import { type ExecFailedError, RuncExecutor } from '../../../src/executor/runc/runc.ts';
import { mountAll, optionValue, unmount } from '../../../src/snapshot/mount.ts';
import type { Mount, Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { listXattrs } from '../../../src/sys/mountserver.ts';
import { makeSentinel } from '../../security/sentinel.ts';
import { collector, type ExecutorRig, openExecutorRig, runcContainers, runUntilKilled } from './fixtures.ts';

let rig: ExecutorRig;
let snap: Snapshotter;
let exec: RuncExecutor;

before(async () => {
  rig = await openExecutorRig('kiln-exec-');
  ({ snap, exec } = rig);
});

after(() => rig.close());

/** Prepare a fresh active snapshot over `parent` and run `args` in it; returns output and the key. */
async function run(args: string[], extra: Partial<ExecSpec> = {}, parent = 'base') {
  const key = `run-${randomBytes(4).toString('hex')}`;
  const rootfs = await snap.prepare(key, parent);
  const out = collector();
  const err = collector();
  try {
    await exec.run({ rootfs, args, ...extra }, { stdout: out.sink, stderr: err.sink });
  } catch (e) {
    return { key, stdout: out.text(), stderr: err.text(), error: e as ExecFailedError };
  }
  return { key, stdout: out.text(), stderr: err.text(), error: undefined };
}

/** The value of overlay option `name` (upperdir, workdir) in a snapshot's mounts. */
function optionOf(mounts: Mount[], name: string): string {
  const value = optionValue(
    mounts.flatMap((m) => m.options),
    name,
  );
  if (value === undefined) throw new Error(`no ${name} in the snapshot's mounts`);
  return value;
}

/** A fresh active snapshot over `base`: its key, mounts and upper dir. */
async function freshSnapshot(): Promise<{ key: string; rootfs: Mount[]; upper: string }> {
  const key = `run-${randomBytes(4).toString('hex')}`;
  const rootfs = await snap.prepare(key, 'base');
  return { key, rootfs, upper: optionOf(rootfs, 'upperdir') };
}

/** No bundle left, and nothing mounted under the bundles' directory. */
async function assertNoBundleLeft(): Promise<void> {
  const bundles = path.join(rig.stateRoot, 'bundles');
  assert.deepEqual(await fs.readdir(bundles), []);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(bundles));
}

/** The paths in the snapshot's layer (its diff against the parent), sorted. */
async function layerPaths(key: string): Promise<string[]> {
  return (await collectEntries(await snap.diff(key))).map((e) => e.header.path).sort();
}

describe('runc executor', () => {
  it('passes stdout and stderr through', async () => {
    const r = await run(['sh', '-c', 'echo hello; echo oops >&2']);
    assert.equal(r.error, undefined);
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.stderr, 'oops\n');
    // runc run removed its container itself: kiln asks runc to delete only what is left.
    assert.equal(runcContainers(rig.stateRoot), '');
  });

  it("tells `started` once, when the container's process runs and before the run ends", async () => {
    const rootfs = await snap.prepare(`run-${randomBytes(4).toString('hex')}`, 'base');
    const log: string[] = [];
    // What runs at `started`: the container's process, in mount and PID namespaces of its own
    // (runc's pid file names it once runc has let it exec); not runc still setting it up.
    let inContainer: boolean | undefined;
    const started = () => {
      log.push('started');
      const bundles = path.join(rig.stateRoot, 'bundles');
      const [id] = readdirSync(bundles);
      const pid = Number(readFileSync(path.join(bundles, id, 'pid'), 'utf8'));
      const ns = (p: number | 'self', n: string) => readlinkSync(`/proc/${p}/ns/${n}`);
      inContainer = ns(pid, 'mnt') !== ns('self', 'mnt') && ns(pid, 'pid') !== ns('self', 'pid');
    };
    await exec.run({ rootfs, args: ['sh', '-c', 'sleep 0.2'] }, { started }).then(() => log.push('ended'));
    assert.deepEqual(log, ['started', 'ended']);
    assert.equal(inContainer, true);
  });

  it('tells `exited` once every process of the container is gone, its rootfs still mounted', async () => {
    const rootfs = await snap.prepare(`run-${randomBytes(4).toString('hex')}`, 'base');
    const bundles = path.join(rig.stateRoot, 'bundles');
    let pidNs = '';
    let bundle = '';
    let left: number[] | undefined;
    let mounted = false;
    const nsOf = (pid: string) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/pid`);
      } catch {
        return '';
      }
    };
    await exec.run(
      // A child left running when the shell exits: the namespace's end takes it too.
      { rootfs, args: ['sh', '-c', 'sleep 30 & sleep 0.2'] },
      {
        started: () => {
          [bundle] = readdirSync(bundles);
          pidNs = nsOf(readFileSync(path.join(bundles, bundle, 'pid'), 'utf8'));
        },
        exited: () => {
          left = readdirSync('/proc')
            .filter((p) => /^\d+$/.test(p) && nsOf(p) === pidNs)
            .map(Number);
          mounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(
            path.join(bundles, bundle, 'rootfs'),
          );
        },
      },
    );
    assert.ok(pidNs, 'no pid namespace seen at started');
    assert.deepEqual(left, []);
    assert.equal(mounted, true);
  });

  it('turns a non-zero exit into EXEC_FAILED with the code and the last output lines', async () => {
    const r = await run(['sh', '-c', 'for i in $(seq 1 50); do echo line$i; done; exit 3']);
    assert.ok(hasCode(r.error, 'EXEC_FAILED'));
    assert.equal(r.error!.exitStatus, 3);
    assert.match(r.error!.message, /exited with code 3/);
    assert.match(r.error!.outputTail, /line50$/);
    assert.doesNotMatch(r.error!.outputTail, /line10\n/);
  });

  it('reports a process killed by a signal', async () => {
    // PID 1 of a pid namespace ignores signals it has no handler for, so a child gets killed.
    const r = await run(['sh', '-c', 'sleep 10 & kill -9 $!; wait $!']);
    assert.ok(hasCode(r.error, 'EXEC_FAILED'));
    assert.equal(r.error!.signal, 'SIGKILL');
    assert.equal(r.error!.exitStatus, 137);
  });

  it('runs as a named user with its groups, home, env and a created working directory', async () => {
    const r = await run(['sh', '-c', 'id; echo "$HOME $FOO $PATH"; pwd'], {
      user: 'app',
      env: ['FOO=bar'],
      cwd: '/work/dir',
    });
    assert.equal(r.error, undefined, r.stderr);
    const [id, env, cwd] = r.stdout.trim().split('\n');
    assert.match(id, /^uid=1000\(app\) gid=1000\(app\) groups=.*10\(wheel\).*29\(audio\)/);
    assert.equal(env, '/home/app bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.equal(cwd, '/work/dir');
  });

  it('accepts uid:gid not in /etc/passwd and rejects an unknown user name', async () => {
    const r = await run(['id', '-u'], { user: '4242:4343' });
    assert.equal(r.stdout, '4242\n');
    const bad = await run(['true'], { user: 'nosuchuser' });
    assert.ok(hasCode(bad.error, 'EXEC_USER_UNKNOWN'));
  });

  it('network none has only the loopback interface', async () => {
    const r = await run(['sh', '-c', "ip -o link | awk -F': ' '{print $2}'"], { network: 'none' });
    assert.equal(r.stdout.trim(), 'lo');
  });

  it('network host sees the host interfaces', async () => {
    const host = (await fs.readdir('/sys/class/net')).sort();
    const r = await run(['ls', '/sys/class/net'], { network: 'host' });
    assert.deepEqual(r.stdout.trim().split(/\s+/).sort(), host);
    assert.ok(host.length > 1);
  });

  it('mounts generated /etc/hosts and resolv.conf that do not reach the layer', async () => {
    const script = 'cat /etc/hosts; hostname; grep -c nameserver /etc/resolv.conf || true';
    const r = await run(['sh', '-c', script], { hostname: 'builder' });
    assert.equal(r.error, undefined, r.stderr);
    assert.match(r.stdout, /^127\.0\.0\.1\tlocalhost builder\n/);
    assert.match(r.stdout, /\nbuilder\n0\n$/, 'network none has no nameserver');
    assert.deepEqual(await layerPaths(r.key), []);
  });

  it('names the host buildkitsandbox and, as BuildKit, gives no /etc/hostname but the image’s', async () => {
    const r = await run(['sh', '-c', 'hostname; grep -c buildkitsandbox /etc/hosts; ls /etc/hostname']);
    assert.equal(r.stdout, 'buildkitsandbox\n1\n');
    assert.match(r.error?.message ?? '', /\/etc\/hostname: No such file/);
    const own = await run(['sh', '-c', 'echo from-image > /etc/hostname']);
    await snap.commit('with-hostname', own.key);
    const r2 = await run(['sh', '-c', 'cat /etc/hostname; hostname'], {}, 'with-hostname');
    assert.equal(r2.stdout, 'from-image\nbuildkitsandbox\n');
    assert.deepEqual(await layerPaths(r2.key), []);
  });

  it('leaves an empty layer after `true`, even when the rootfs lacks /etc, /proc, /dev and /sys', async () => {
    assert.deepEqual(await layerPaths((await run(['true'])).key), []);
    const bare = 'bare-base';
    await snap.prepare('bare-prep');
    await snap.withMounted('bare-prep', async (dir) => {
      await fs.mkdir(path.join(dir, 'bin'));
      await fs.copyFile('/var/cache/kiln-fixtures/busybox-amd64', path.join(dir, 'bin/busybox'));
      await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
    });
    await snap.commit(bare, 'bare-prep');
    const r = await run(['/bin/busybox', 'true'], {}, bare);
    assert.equal(r.error, undefined, r.stderr);
    assert.deepEqual(await layerPaths(r.key), []);
  });

  it('keeps files the command writes in the layer', async () => {
    const r = await run(['sh', '-c', 'echo data > /etc/made && mkdir -p /opt/x']);
    assert.deepEqual(await layerPaths(r.key), ['etc', 'etc/made', 'opt', 'opt/x']);
  });

  it("leaves the rootfs's unmount to settle, the upper dir's tree on a directory no mount holds", async () => {
    const { key, rootfs, upper } = await freshSnapshot();
    const before = statSync(upper).ino;
    await exec.run({ rootfs, args: ['sh', '-c', 'mkdir /made && echo x > /made/f && chmod 1751 /'] });
    // The run's tree, with the mode the RUN gave /, on a new inode at the upper dir's path.
    const after = statSync(upper);
    assert.notEqual(after.ino, before);
    assert.equal(after.mode & 0o7777, 0o1751);
    assert.equal(readFileSync(path.join(upper, 'made/f'), 'utf8'), 'x\n');
    assert.deepEqual(await layerPaths(key), ['made', 'made/f']);
    // A mount with index=on refuses a lowerdir that another mount holds as its upper (EBUSY):
    // this one mounts at once, whether or not the run's own unmount is done yet.
    const scratch = await fs.mkdtemp(path.join(rig.stateRoot, 'lower-check-'));
    const [u, w, m] = ['u', 'w', 'm'].map((d) => path.join(scratch, d));
    for (const d of [u, w, m]) await fs.mkdir(d);
    await mountAll(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: ['index=on', `lowerdir=${upper}`, `upperdir=${u}`, `workdir=${w}`],
        },
      ],
      m,
    );
    try {
      assert.equal(readFileSync(path.join(m, 'made/f'), 'utf8'), 'x\n');
    } finally {
      await unmount(m);
    }
    // settle: the rootfs unmounted and the bundle, with the old upper and work dirs, removed.
    await exec.settle();
    await assertNoBundleLeft();
  });

  it("moves a RUN's links to the host as links: a sentinel outside the root stays untouched", async () => {
    const sentinel = makeSentinel(path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-sentinel-')), 's'));
    const { key, rootfs, upper } = await freshSnapshot();
    const s = sentinel.dir;
    const before = statSync(upper).ino;
    // Top-level names the move renames: links to the sentinel, its secret, and a directory of it.
    await exec.run({
      rootfs,
      args: ['sh', '-c', `ln -s ${s} /escape && ln -s ${s}/secret /secret && ln -s ${s}/b /b && mkdir /real`],
    });
    await exec.settle();
    assert.notEqual(statSync(upper).ino, before, 'the upper dir was not moved');
    for (const [name, target] of [
      ['escape', s],
      ['secret', `${s}/secret`],
      ['b', `${s}/b`],
    ]) {
      assert.ok(lstatSync(path.join(upper, name)).isSymbolicLink(), name);
      assert.equal(readlinkSync(path.join(upper, name)), target);
    }
    assert.deepEqual(await layerPaths(key), ['b', 'escape', 'real', 'secret']);
    sentinel.assertUntouched();
    await fs.rm(path.dirname(s), { recursive: true, force: true });
  });

  it('fails the run with SNAPSHOT_DETACH_FAILED when the move fails half-way, and still cleans up', async () => {
    const { rootfs } = await freshSnapshot();
    const work = optionOf(rootfs, 'workdir');
    // The work dir gone from its place while the run runs: the move's last rename fails.
    await assert.rejects(
      exec.run(
        { rootfs, args: ['sh', '-c', 'echo x > /made'] },
        { started: () => void fs.rename(work, `${work}.moved`) },
      ),
      (e) => hasCode(e, 'SNAPSHOT_DETACH_FAILED'),
    );
    await assertNoBundleLeft();
  });

  it('unmounts before it returns when the RUN left more than 1,000 names at /', async () => {
    const { rootfs, upper } = await freshSnapshot();
    const before = statSync(upper).ino;
    await exec.run({
      rootfs,
      args: ['sh', '-c', 'i=0; while [ $i -lt 1001 ]; do : > /f$i; i=$((i+1)); done'],
    });
    assert.equal(statSync(upper).ino, before);
    assert.equal(readdirSync(upper).length, 1001);
    await assertNoBundleLeft();
  });

  it("unmounts before it returns when the upper dir's root has attributes of its own", async () => {
    const { key, rootfs, upper } = await freshSnapshot();
    execFileSync('setfattr', ['-n', 'user.kiln-test', '-v', 'kept', upper]);
    const before = statSync(upper).ino;
    await exec.run({ rootfs, args: ['sh', '-c', 'echo x > /made'] });
    // A new directory would have lost the attribute: the upper dir stays, unmounted already.
    assert.equal(statSync(upper).ino, before);
    assert.ok((await listXattrs(upper)).includes('user.kiln-test'));
    await assertNoBundleLeft();
    assert.deepEqual(await layerPaths(key), ['made']);
  });

  it('mounts a tmpfs whose contents stay out of the layer', async () => {
    const r = await run(['sh', '-c', 'grep " /scratch " /proc/mounts; echo x > /scratch/f'], {
      mounts: [{ type: 'tmpfs', target: '/scratch', size: 1 << 20 }],
    });
    assert.equal(r.error, undefined, r.stderr);
    assert.match(r.stdout, /^tmpfs \/scratch tmpfs .*size=1024k/);
    assert.deepEqual(await layerPaths(r.key), []);
  });

  it('abort kills the container and rejects with EXEC_CANCELED', async () => {
    const key = 'abort-me';
    const rootfs = await snap.prepare(key, 'base');
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(exec.run({ rootfs, args: ['sleep', '60'] }, { signal: ac.signal }), (e) =>
      hasCode(e, 'EXEC_CANCELED'),
    );
    assert.ok(Date.now() - started < 10_000);
    assert.equal(runcContainers(rig.stateRoot), '');
  });

  it('cleans up the container, mounts and bundle of a killed kiln process', async () => {
    const { stateRoot } = rig;
    await runUntilKilled(stateRoot, await snap.prepare('killed-run', 'base'));
    assert.notEqual(runcContainers(stateRoot), '', 'the killed process left its container running');
    await new RuncExecutor({ stateRoot }).cleanupStale();
    assert.equal(runcContainers(stateRoot), '');
    assert.deepEqual(await fs.readdir(path.join(stateRoot, 'bundles')), []);
    assert.ok(!(await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(path.join(stateRoot, 'bundles')));
  });

  it("grants Docker's default capabilities, and all of them with securityInsecure", async () => {
    const script =
      'grep CapEff /proc/self/status; grep -c " /sys sysfs ro," /proc/mounts; stat -c %F /proc/timer_list';
    const normal = await run(['sh', '-c', script]);
    // /proc/timer_list is masked with /dev/null.
    assert.equal(normal.stdout, 'CapEff:\t00000000a80425fb\n1\ncharacter special file\n');
    const insecure = await run(['sh', '-c', script], { securityInsecure: true });
    const [caps, roSys, kcore] = insecure.stdout.split('\n');
    assert.ok(BigInt(`0x${caps.split('\t')[1]}`) > 0xa80425fbn, caps);
    assert.equal(roSys, '0');
    assert.match(kcore, /^regular/);
  });

  it('runs several containers in parallel', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => run(['sh', '-c', `sleep 0.3; echo run${i} > /out; cat /out`])),
    );
    assert.deepEqual(
      results.map((r) => r.stdout),
      ['run1\n', 'run2\n', 'run3\n', 'run4\n'],
    );
  });

  it('runs an arm64 rootfs through qemu binfmt', async () => {
    const r = await run(['uname', '-m'], { platform: { os: 'linux', architecture: 'arm64' } }, 'base-arm64');
    assert.equal(r.error, undefined, r.stderr);
    assert.equal(r.stdout, 'aarch64\n');
  });

  it('rejects a platform with no binfmt handler with a clear error', async () => {
    const r = await run(['true'], { platform: { os: 'linux', architecture: 's390x' } });
    assert.ok(hasCode(r.error, 'EXEC_PLATFORM_UNSUPPORTED'));
    assert.match((r.error as Error).message, /s390x/);
  });
});
