/**
 * kiln serve under the events a daemon meets: a client that hangs up mid-build (its build is
 * canceled: no container left, the store sound), SIGTERM mid-build (short builds finish within
 * the grace period, long ones are canceled after it, new requests are refused), eight clients
 * building at once, and the socket's permissions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DOCKER, processesWith, request, runcContainers, type Served, serve, tarOf } from './helpers.ts';

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function dockerAsync(s: Served, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(DOCKER, args, {
      env: {
        ...process.env,
        DOCKER_HOST: s.host,
        DOCKER_BUILDKIT: '0',
        DOCKER_CONFIG: `${s.dir}/docker-config`,
      },
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('close', (code) => resolve({ code, out }));
  });
}

describe('kiln serve lifecycle', () => {
  const servers: Served[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('the unix socket is 0660, owned by root', async () => {
    const s = await serve('perm');
    servers.push(s);
    const st = statSync(s.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });

  it('a client that disconnects mid-build cancels it: no container left, the store sound', async () => {
    const s = await serve('disconnect');
    servers.push(s);
    const marker = `kiln-serve-disconnect-${process.pid}`;
    const ctx = await s.context({ Dockerfile: `FROM busybox\nRUN echo ${marker} && sleep 311\n` });
    const res = await request(s.socket, 'POST', '/v1.41/build?t=hangup:1', tarOf(ctx), (_text, req) => {
      // Hang up once the RUN step is running.
      if (processesWith('sleep 311').length > 0) req.destroy();
    });
    assert.equal(res.status, 200);
    await until('the server to finish the canceled request', () =>
      /POST \/v1\.41\/build\S* \d+ \d+ms \(client gone\)/.test(s.log()),
    );
    assert.deepEqual(processesWith('sleep 311'), []);
    assert.deepEqual(runcContainers(s.root), []);
    const fsck = s.kiln(['fsck']);
    assert.equal(fsck.code, 0, fsck.err + fsck.out);
    assert.notEqual(s.run(DOCKER, ['image', 'inspect', 'hangup:1']).code, 0);
  });

  it('SIGTERM lets a short build finish, cancels a long one after the grace period, refuses new clients', async () => {
    const s = await serve('sigterm', ['--shutdown-timeout', '8']);
    servers.push(s);
    const marker = `kiln-serve-sigterm-${process.pid}`;
    const short = await s.context({ Dockerfile: `FROM busybox\nRUN echo ${marker}-short && sleep 3\n` });
    const long = await s.context({ Dockerfile: `FROM busybox\nRUN echo ${marker}-long && sleep 313\n` });
    const a = dockerAsync(s, ['build', '-t', 'short:1', short]);
    const b = dockerAsync(s, ['build', '-t', 'long:1', long]);
    await until(
      'both RUN steps to start',
      () =>
        processesWith('sleep 3').some((l) => l.endsWith('sleep 3')) && processesWith('sleep 313').length > 0,
    );
    const started = Date.now();
    const exited = s.stop('SIGTERM');
    await until('the server to stop accepting', () => s.log().includes('shutting down'));
    const refused = await dockerAsync(s, ['images']);
    assert.notEqual(refused.code, 0);
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.code, 0, ra.out);
    assert.match(ra.out, /Successfully tagged short:1/);
    assert.notEqual(rb.code, 0);
    assert.match(rb.out, /shutting down|canceled/);
    assert.equal(await exited, 143);
    assert.ok(Date.now() - started >= 8000, 'the long build had its grace period');
    assert.deepEqual(processesWith('sleep 313'), []);
    assert.deepEqual(runcContainers(s.root), []);
    const fsck = s.kiln(['fsck']);
    assert.equal(fsck.code, 0, fsck.err + fsck.out);
    assert.equal(s.kiln(['image', 'inspect', '--format', '{{.Id}}', 'short:1']).code, 0);
  });

  it('eight clients build at once, each getting its own image', async () => {
    const s = await serve('concurrent');
    servers.push(s);
    const n = 8;
    const ctxs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        s.context({
          Dockerfile: `FROM busybox\nRUN echo shared-step > /shared\nRUN echo ${i} > /n\nLABEL n=${i}\n`,
        }),
      ),
    );
    const results = await Promise.all(ctxs.map((c, i) => dockerAsync(s, ['build', '-t', `conc:${i}`, c])));
    for (const [i, r] of results.entries()) assert.equal(r.code, 0, `build ${i}: ${r.out}`);
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) {
      const label = s
        .docker(['image', 'inspect', '--format', '{{.Id}} {{index .Config.Labels "n"}}', `conc:${i}`])
        .trim();
      const [id, l] = label.split(' ');
      assert.equal(l, String(i));
      ids.add(id);
    }
    assert.equal(ids.size, n);
    assert.deepEqual(runcContainers(s.root), []);
    const fsck = s.kiln(['fsck']);
    assert.equal(fsck.code, 0, fsck.err + fsck.out);
  });
});
