/**
 * The runc executor's default network against real runc and slirp4netns: a namespace of the
 * step's own behind a user-space NAT, no CAP_NET_RAW, a clear error without slirp4netns, and
 * nothing left running, mounted or held after a run, a failed run or a SIGKILL of kiln.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../../../src/errors/errors.ts';
import type { ExecSpec } from '../../../src/executor/executor.ts';
import { RuncExecutor } from '../../../src/executor/runc/runc.ts';
import {
  collector,
  type ExecutorRig,
  nsfsMounts,
  openExecutorRig,
  processesWithEnv,
  runcContainers,
  runUntilKilled,
} from './fixtures.ts';

// Every process the executor starts inherits this, so what it leaves behind can be found.
const MARK = `KILN_NET_TEST=${randomUUID()}`;
process.env.KILN_NET_TEST = MARK.split('=')[1];

let rig: ExecutorRig;

before(async () => {
  execFileSync('slirp4netns', ['--version']);
  rig = await openExecutorRig('kiln-net-');
});

after(() => rig.close());

async function run(script: string, extra: Partial<ExecSpec> = {}, executor = rig.exec) {
  const rootfs = await rig.snap.prepare(`run-${randomBytes(4).toString('hex')}`, 'base');
  const out = collector();
  try {
    await executor.run(
      { rootfs, args: ['sh', '-c', script], network: 'default', ...extra },
      { stdout: out.sink, stderr: out.sink },
    );
  } catch (e) {
    return { out: out.text(), error: e as Error & { code?: string; hint?: string } };
  } finally {
    // A run does not wait for its network to stop; the build's end does (Executor.settle).
    await executor.settle();
  }
  return { out: out.text(), error: undefined };
}

/** What must be gone once a run is over: kiln's helpers, mounts under the state root, nsfs mounts. */
async function assertNothingLeft(nsfsBefore: number) {
  assert.deepEqual(processesWithEnv(MARK), []);
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.includes(rig.stateRoot), 'a mount under the state root was left');
  assert.equal(await nsfsMounts(), nsfsBefore, 'a namespace was left bind-mounted');
  assert.deepEqual(await fs.readdir(path.join(rig.stateRoot, 'bundles')), []);
}

describe('runc executor: the default network', () => {
  it('is a namespace of its own whose eth0 (10.0.2.100, MTU 65520) routes through slirp4netns', async () => {
    const r = await run(
      'readlink /proc/self/ns/net; ip -o -4 addr show eth0; cat /sys/class/net/eth0/mtu; ip route',
    );
    assert.equal(r.error, undefined, r.out);
    const [ns, addr, mtu, ...routes] = r.out.trim().split('\n');
    assert.notEqual(ns, readlinkSync('/proc/self/ns/net'));
    assert.match(addr, /eth0\s+inet 10\.0\.2\.100\/24/);
    assert.equal(mtu, '65520');
    assert.ok(
      routes.some((l) => /^default via 10\.0\.2\.2 dev eth0/.test(l)),
      routes.join('\n'),
    );
  });

  it('drops CAP_NET_RAW, so no packet socket can hand slirp4netns a frame for 127.0.0.1', async () => {
    // slirp4netns's --disable-host-loopback only refuses its gateway alias: a frame addressed to
    // 127.0.0.1, written straight to the tap device through an AF_PACKET socket, is relayed to
    // the host's loopback. arping needs exactly such a socket.
    const r = await run(
      'grep CapEff /proc/self/status; arping -c 1 -w 1 -I eth0 10.0.2.2 2>&1; echo "status $?"',
    );
    assert.match(r.out, /^CapEff:\t00000000a80405fb\n/, 'CAP_NET_RAW (bit 13) is dropped, the rest kept');
    assert.match(r.out, /Operation not permitted|permission denied/i);
    assert.match(r.out, /status [1-9]/);
    const none = await run('grep CapEff /proc/self/status', { network: 'none' });
    assert.equal(none.out, 'CapEff:\t00000000a80425fb\n', 'network none keeps it: there is nothing to reach');
  });

  it('leaves no process, mount or namespace behind after a run and after a failed run, once settled', async () => {
    const nsfs = await nsfsMounts();
    assert.equal((await run('true')).error, undefined);
    await assertNothingLeft(nsfs);
    const failed = await run('exit 3');
    assert.ok(hasCode(failed.error, 'EXEC_FAILED'));
    await assertNothingLeft(nsfs);
  });

  it('without slirp4netns fails with EXEC_NETWORK_UNAVAILABLE naming the package, and starts nothing', async () => {
    const missing = new RuncExecutor({
      stateRoot: rig.stateRoot,
      slirp4netns: path.join(rig.tmp, 'no-such-slirp4netns'),
    });
    const nsfs = await nsfsMounts();
    const r = await run('echo ran', {}, missing);
    assert.ok(hasCode(r.error, 'EXEC_NETWORK_UNAVAILABLE'), String(r.error));
    assert.match(r.error!.message, /slirp4netns is not installed/);
    assert.match(r.error!.hint ?? '', /apt-get install slirp4netns/);
    assert.equal(r.out, '', 'the command did not run without its network');
    await assertNothingLeft(nsfs);
  });

  it('slirp4netns dies with a SIGKILLed kiln; the next run removes the container it left', async () => {
    const { stateRoot } = rig;
    const nsfs = await nsfsMounts();
    let slirpSeen = false;
    await runUntilKilled(stateRoot, await rig.snap.prepare('killed-net-run', 'base'), 'default', () => {
      slirpSeen ||= processesWithEnv(MARK).some((p) => p.comm === 'slirp4netns');
    });
    assert.ok(slirpSeen, 'slirp4netns ran during the step');
    const helpers = () => processesWithEnv(MARK).filter((p) => p.comm !== 'runc');
    for (let i = 0; i < 200 && helpers().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(helpers(), [], 'slirp4netns and the namespace holder exit with kiln');
    assert.notEqual(runcContainers(stateRoot), '', 'the killed process left its container running');
    await new RuncExecutor({ stateRoot }).cleanupStale();
    assert.equal(runcContainers(stateRoot), '');
    // `runc run` of the killed kiln goes once its container is gone.
    for (let i = 0; i < 200 && processesWithEnv(MARK).length > 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    await assertNothingLeft(nsfs);
  });
});
