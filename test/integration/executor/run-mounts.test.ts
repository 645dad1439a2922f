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
import { prepareRunMounts, type RunMountSpec } from '../../../src/executor/run-mounts.ts';
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
