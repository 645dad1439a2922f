/**
 * RUN --mount through prepareRunMounts and the runc executor: cache persistence and sharing,
 * secrets that never reach the layer, read-only binds, ssh forwarding, and mount targets that
 * stay inside the rootfs and leave no stubs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectEntries } from '../../../src/archive/tree-entries.ts';
import { ensureInRoot, removeIfUnchanged } from '../../../src/confine/ensure.ts';
import { hasCode } from '../../../src/errors/errors.ts';
import { cacheMountDir, prepareRunMounts, type RunMountSpec } from '../../../src/executor/run-mounts.ts';
import type { ExecFailedError } from '../../../src/executor/runc/runc.ts';
import { RuncExecutor } from '../../../src/executor/runc/runc.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { busyboxSnapshots, collector } from './fixtures.ts';

let tmp: string;
let state: string;
let snap: Snapshotter;
let exec: RuncExecutor;

before(async () => {
  execFileSync('runc', ['--version']);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-mounts-'));
  state = path.join(tmp, 'state');
  snap = await busyboxSnapshots(path.join(tmp, 'snapshots'));
  exec = new RuncExecutor({ stateRoot: state });
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Run `script` with RUN --mount specs on a fresh snapshot over base; returns output and key. */
async function runWith(script: string, specs: RunMountSpec[], user?: string) {
  const key = `m-${randomBytes(4).toString('hex')}`;
  const rootfs = await snap.prepare(key, 'base');
  const prepared = await prepareRunMounts(specs, state);
  const out = collector();
  let error: ExecFailedError | undefined;
  try {
    await exec.run(
      { rootfs, args: ['sh', '-c', script], mounts: prepared.mounts, env: prepared.env, user },
      { stdout: out.sink, stderr: out.sink },
    );
  } catch (e) {
    error = e as ExecFailedError;
  } finally {
    await prepared.cleanup();
  }
  return {
    key,
    out: out.text(),
    error,
    layer: (await collectEntries(await snap.diff(key))).map((e) => e.header.path).sort(),
  };
}

describe('RUN --mount', () => {
  it('a cache mount persists across runs and its target leaves no trace in the layer', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'pkgs', target: '/root/.cache/pkgs' };
    const first = await runWith('echo one >> /root/.cache/pkgs/log; cat /root/.cache/pkgs/log', [spec]);
    assert.equal(first.error, undefined, first.out);
    const second = await runWith('echo two >> /root/.cache/pkgs/log; cat /root/.cache/pkgs/log', [spec]);
    assert.equal(second.out, 'one\ntwo\n');
    // BuildKit removes mount stubs it had to create (/root/.cache, /root/.cache/pkgs) after the run.
    assert.deepEqual(second.layer, []);
  });

  it('a new cache directory gets the requested owner and mode', async () => {
    const r = await runWith('stat -c "%u:%g %a" /cache', [
      { type: 'cache', id: 'owned', target: '/cache', uid: 1000, gid: 1000, mode: 0o750 },
    ]);
    assert.equal(r.out, '1000:1000 750\n');
  });

  it('locked sharing serializes users of one cache id', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'locked-1', target: '/c', sharing: 'locked' };
    const script =
      'if [ -e /c/busy ]; then echo overlap; fi; touch /c/busy; sleep 0.3; rm /c/busy; echo done';
    const [a, b] = await Promise.all([runWith(script, [spec]), runWith(script, [spec])]);
    assert.equal(a.out + b.out, 'done\ndone\n');
  });

  it('a RUN waiting on a locked cache has its container ready and starts its process only once the lock is let go', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'locked-deferred', target: '/c', sharing: 'locked' };
    const holder = await prepareRunMounts([spec], state);
    const rootfs = await snap.prepare(`m-${randomBytes(4).toString('hex')}`, 'base');
    // Returns at once with the lock still held by `holder`; without deferLocks it would wait.
    const prepared = await Promise.race([
      prepareRunMounts([spec], state, { deferLocks: true }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('waited for the lock')), 5000)),
    ]);
    let startedEarly = false;
    let started = false;
    const out = collector();
    const run = exec.run(
      { rootfs, args: ['sh', '-c', 'cat /c/marker'], mounts: prepared.mounts },
      { stdout: out.sink, stderr: out.sink, started: () => (started = true), ready: prepared.ready },
    );
    try {
      // The bundle (rootfs mounted, config written) is made while the lock is held elsewhere.
      const bundles = path.join(state, 'bundles');
      let config = false;
      for (let i = 0; i < 100 && !config; i++) {
        await new Promise((r) => setTimeout(r, 50));
        for (const id of await fs.readdir(bundles).catch(() => [])) {
          config ||= await fs.stat(path.join(bundles, id, 'config.json')).then(
            () => true,
            () => false,
          );
        }
      }
      assert.ok(config, 'no bundle was made while the lock was held');
      await new Promise((r) => setTimeout(r, 200));
      startedEarly = started;
      // Written by the holder just before it lets go: the waiting process must see it.
      await fs.writeFile(path.join(cacheMountDir(state, 'locked-deferred'), 'marker'), 'after\n');
    } finally {
      await holder.cleanup();
    }
    try {
      await run;
    } finally {
      await prepared.cleanup();
    }
    assert.equal(startedEarly, false, 'the process started while another held the lock');
    assert.equal(out.text(), 'after\n');
  });

  it('a RUN canceled while it waits on a locked cache starts nothing and leaves the lock free', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'locked-cancel', target: '/c', sharing: 'locked' };
    const holder = await prepareRunMounts([spec], state);
    const rootfs = await snap.prepare(`m-${randomBytes(4).toString('hex')}`, 'base');
    const prepared = await prepareRunMounts([spec], state, { deferLocks: true });
    const ac = new AbortController();
    let started = false;
    const run = exec.run(
      { rootfs, args: ['sh', '-c', 'echo ran > /c/ran'], mounts: prepared.mounts },
      { signal: ac.signal, started: () => (started = true), ready: prepared.ready },
    );
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(run, (e) => hasCode(e, 'EXEC_CANCELED'));
    // Its cleanup ends its wait: it does not wait for the holder to let go.
    const cleaned = await Promise.race([
      prepared.cleanup().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    assert.equal(cleaned, true, "the canceled RUN's cleanup waited for the holder");
    await holder.cleanup();
    assert.equal(started, false);
    await assert.rejects(fs.stat(path.join(cacheMountDir(state, 'locked-cancel'), 'ran')));
    // Its rootfs's unmount and bundle's removal may go on after it returned (detach.ts).
    await exec.settle();
    assert.deepEqual(await fs.readdir(path.join(state, 'bundles')).catch(() => []), []);
    // Nobody holds it now: a third user takes it at once.
    const third = await Promise.race([
      prepareRunMounts([spec], state),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the lock was left held')), 5000)),
    ]);
    await third.cleanup();
  });

  it('releaseLocks lets a locked cache go before cleanup, and cleanup then leaves the next holder its lock', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'locked-early', target: '/c', sharing: 'locked' };
    const first = await prepareRunMounts([spec], state);
    await first.releaseLocks();
    const second = await Promise.race([
      prepareRunMounts([spec], state),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still locked')), 5000)),
    ]);
    await first.cleanup();
    const third = prepareRunMounts([spec], state);
    const waited = await Promise.race([
      third.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), 300)),
    ]);
    assert.equal(waited, true, "the first's cleanup let go of the second's lock");
    await second.cleanup();
    await (await third).cleanup();
  });

  it('private sharing gives a concurrent user its own instance', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'private-1', target: '/c', sharing: 'private' };
    const script = 'echo $$ > /c/mine; sleep 0.3; ls /c | wc -l';
    const [a, b] = await Promise.all([runWith(script, [spec]), runWith(script, [spec])]);
    assert.equal(a.out.trim(), '1');
    assert.equal(b.out.trim(), '1');
  });

  it('shared sharing lets concurrent users see each other', async () => {
    const spec: RunMountSpec = { type: 'cache', id: 'shared-1', target: '/c', sharing: 'shared' };
    // Each waits (up to 10 s) for the other's file: a slow start must not fail the test, while a
    // cache that is not shared still shows one file when the wait runs out. The name is the
    // kernel's random UUID: $$ is 1 in every container, and two shells may draw the same $RANDOM.
    const script =
      'touch /c/$(cat /proc/sys/kernel/random/uuid); i=0; while [ "$(ls /c | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ls /c | wc -l';
    const [a, b] = await Promise.all([runWith(script, [spec]), runWith(script, [spec])]);
    assert.equal(a.out.trim(), '2');
    assert.equal(b.out.trim(), '2');
  });

  it('a secret is readable with its mode and owner, read-only, and absent from the layer and the host', async () => {
    const r = await runWith(
      'cat /run/secrets/token; echo; stat -c "%a %u" /run/secrets/token; (echo x > /run/secrets/token) 2>/dev/null || echo ro',
      [{ type: 'secret', id: 'token', data: 's3cret', mode: 0o440, uid: 1000 }],
    );
    assert.match(r.out, /^s3cret\n440 1000\n/);
    assert.match(r.out, /ro\n$/);
    assert.deepEqual(r.layer, []);
    assert.deepEqual(await fs.readdir(path.join(state, 'run')), []);
  });

  it('a secret at a custom target', async () => {
    const r = await runWith('cat /etc/app/key', [
      { type: 'secret', id: 'k', target: '/etc/app/key', data: 'abc' },
    ]);
    assert.equal(r.out, 'abc');
    assert.deepEqual(r.layer, []);
  });

  it('a bind mount is read-only by default', async () => {
    const src = await fs.mkdtemp(path.join(tmp, 'ctx-'));
    await fs.writeFile(path.join(src, 'file'), 'from host');
    const r = await runWith('cat /src/file; echo; touch /src/new 2>/dev/null || echo readonly', [
      { type: 'bind', root: src, source: '/', target: '/src' },
    ]);
    assert.equal(r.out, 'from host\nreadonly\n');
    assert.deepEqual(await fs.readdir(src), ['file']);
  });

  it('a tmpfs mount', async () => {
    const r = await runWith('grep " /t " /proc/mounts | cut -d" " -f3', [{ type: 'tmpfs', target: '/t' }]);
    assert.equal(r.out, 'tmpfs\n');
  });

  it('an ssh mount forwards to the agent socket and sets SSH_AUTH_SOCK', async () => {
    const agentDir = await fs.mkdtemp(path.join(tmp, 'agent-'));
    const agent = path.join(agentDir, 'sock');
    const server = net.createServer((c) => c.end('agent says hi'));
    await new Promise<void>((r) => server.listen(agent, r));
    try {
      const prepared = await prepareRunMounts([{ type: 'ssh', socket: agent, uid: 1000 }], state);
      assert.deepEqual(prepared.env, ['SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0']);
      const source = prepared.mounts[0].type === 'bind' ? prepared.mounts[0].source : '';
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(source);
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('end', () => resolve(text));
        c.on('error', reject);
      });
      assert.equal(reply, 'agent says hi');
      const key = `ssh-${randomBytes(3).toString('hex')}`;
      const out = collector();
      await exec.run(
        {
          rootfs: await snap.prepare(key, 'base'),
          args: ['sh', '-c', 'test -S "$SSH_AUTH_SOCK" && stat -c %u "$SSH_AUTH_SOCK"'],
          mounts: prepared.mounts,
          env: prepared.env,
        },
        { stdout: out.sink },
      );
      await prepared.cleanup();
      assert.equal(out.text(), '1000\n');
      assert.deepEqual(await collectEntries(await snap.diff(key)), []);
    } finally {
      server.close();
    }
  });

  it('a missing ssh agent socket is a clear error', async () => {
    await assert.rejects(prepareRunMounts([{ type: 'ssh', socket: path.join(tmp, 'nope') }], state), (e) =>
      hasCode(e, 'SSH_AGENT_MISSING'),
    );
  });
});

describe('mount targets in the rootfs', () => {
  it('follow symlinks inside the rootfs, never out of it', async () => {
    const root = await fs.mkdtemp(path.join(tmp, 'root-'));
    const outside = await fs.mkdtemp(path.join(tmp, 'outside-'));
    await fs.symlink(outside, path.join(root, 'abs'));
    await fs.symlink('../../../../..', path.join(root, 'up'));
    const a = ensureInRoot(root, '/abs/x', 'dir');
    a.held.close();
    assert.equal(a.held.comps.join('/'), path.join(outside, 'x').slice(1));
    const b = ensureInRoot(root, '/up/etc/y', 'file');
    b.held.close();
    assert.equal(b.held.comps.join('/'), 'etc/y');
    assert.deepEqual(await fs.readdir(outside), []);
    for (const c of [...a.created, ...b.created].reverse()) removeIfUnchanged(root, c)?.close();
    assert.deepEqual((await fs.readdir(root)).sort(), ['abs', 'up']);
  });

  it('a mount target under a symlinked directory lands inside the rootfs', async () => {
    const key = 'symlinked';
    await snap.prepare(key, 'base');
    await snap.withMounted(key, async (dir) => {
      await fs.mkdir(path.join(dir, 'run'), { recursive: true });
      await fs.symlink('/run', path.join(dir, 'var-run'));
    });
    await snap.commit('symlinked-base', key);
    const child = 'symlinked-child';
    const out = collector();
    const prepared = await prepareRunMounts(
      [{ type: 'secret', id: 's', target: '/var-run/s', data: 'inside' }],
      state,
    );
    try {
      const rootfs = await snap.prepare(child, 'symlinked-base');
      await exec.run({ rootfs, args: ['cat', '/var-run/s'], mounts: prepared.mounts }, { stdout: out.sink });
    } finally {
      await prepared.cleanup();
    }
    assert.equal(out.text(), 'inside');
    assert.deepEqual(await collectEntries(await snap.diff(child)), []);
  });
});
