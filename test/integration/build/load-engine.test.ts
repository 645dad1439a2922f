/**
 * `kiln build --load`: into a real Docker Engine (Debian's dockerd, started here on a private
 * socket with its own data and exec roots) when DOCKER_HOST names one that answers, where
 * `docker image inspect` then finds the tag under kiln's image ID; into kiln's store when the
 * engine is absent; and the engine's own error message when it refuses the archive (a fake
 * engine on a real unix socket, since dockerd cannot be made to refuse on demand).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, makeContext, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
let dockerDir: string;
let dockerd: ChildProcess;
let sock: string;

function kiln(args: string[], dockerHost: string) {
  const r = spawnSync(KILN, args, {
    env: { ...process.env, KILN_ROOT: suite.root, NO_COLOR: '1', DOCKER_HOST: dockerHost },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** As kiln() but without blocking this process, whose fake engine must answer meanwhile. */
function kilnAsync(args: string[], dockerHost: string): Promise<{ code: number | null; err: string }> {
  const child = spawn(KILN, args, {
    env: { ...process.env, KILN_ROOT: suite.root, NO_COLOR: '1', DOCKER_HOST: dockerHost },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
}

function docker(...args: string[]) {
  return spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8' });
}

before(async () => {
  suite = await openSuite('load');
  assert.equal(spawnSync('which', ['dockerd']).status, 0, 'dockerd is required: apt-get install docker.io');
  // Short paths: containerd's sockets live under the exec root (108-byte socket path limit).
  dockerDir = await mkdtemp(join(tmpdir(), 'kdk-'));
  sock = join(dockerDir, 'docker.sock');
  await mkdir(join(dockerDir, 'data'));
  // A network namespace of its own: a second dockerd on the host's deletes the host's docker0
  // bridge (even with --bridge=none), which broke the machine's own Docker for every later
  // container. The engine is reached through its unix socket, which no namespace hides.
  dockerd = spawn(
    'unshare',
    [
      '--net',
      'dockerd',
      `--data-root=${join(dockerDir, 'data')}`,
      `--exec-root=${join(dockerDir, 'x')}`,
      `--pidfile=${join(dockerDir, 'docker.pid')}`,
      `--host=unix://${sock}`,
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 300 && docker('version').status !== 0; i++)
    await new Promise((r) => setTimeout(r, 200));
  assert.equal(docker('version').status, 0, 'dockerd did not come up');
});

after(async () => {
  if (dockerd && dockerd.exitCode === null) {
    const exited = new Promise((r) => dockerd.once('exit', r));
    dockerd.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
  spawnSync('umount', ['-R', join(dockerDir, 'data')]);
  await rm(dockerDir, { recursive: true, force: true });
  await suite.close();
});

describe('build --load', () => {
  it('loads into the Docker Engine DOCKER_HOST names, under kiln’s image ID', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY f /f\n', f: 'loaded\n' });
    const r = kiln(
      ['build', '--progress', 'plain', '--load', '-t', 'kiln-loaded:1', '--iidfile', join(ctx, 'iid'), ctx],
      `unix://${sock}`,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /loading image into docker/);
    const inspect = docker('image', 'inspect', '--format', '{{.Id}}', 'kiln-loaded:1');
    assert.equal(inspect.status, 0, inspect.stderr);
    const iid = spawnSync('cat', [join(ctx, 'iid')], { encoding: 'utf8' }).stdout.trim();
    assert.equal(inspect.stdout.trim(), iid);
    const run = docker('run', '--rm', '--network=none', 'kiln-loaded:1', '/bin/busybox', 'cat', '/f');
    assert.equal(run.stdout, 'loaded\n', run.stderr);
    // Into docker, not into kiln's store as well.
    assert.notEqual(kiln(['image', 'inspect', 'kiln-loaded:1'], `unix://${sock}`).code, 0);
  });

  it("loads into kiln's store when DOCKER_HOST names no running engine", async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY f /f\n', f: 'stored\n' });
    const missing = `unix://${join(dockerDir, 'missing.sock')}`;
    const r = kiln(['build', '--progress', 'plain', '--load', '-t', 'kiln-stored:1', ctx], missing);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /loading image into kiln's store/);
    assert.equal(kiln(['image', 'inspect', 'kiln-stored:1'], missing).code, 0);
    assert.notEqual(docker('image', 'inspect', 'kiln-stored:1').status, 0);
  });

  it("fails with the engine's own message when it refuses the image", async () => {
    const fakeSock = join(dockerDir, 'fake.sock');
    let received = 0;
    const fake = http.createServer((req, res) => {
      if (req.url === '/_ping') return res.end('OK');
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          '{"errorDetail":{"message":"no space left for kiln-refused"},"error":"no space left for kiln-refused"}\n',
        );
      });
    });
    await new Promise<void>((r) => fake.listen(fakeSock, r));
    try {
      const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY f /f\n', f: 'refused\n' });
      const r = await kilnAsync(
        ['build', '--progress', 'plain', '--load', '-t', 'kiln-refused:1', ctx],
        `unix://${fakeSock}`,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.err, /loading the image into docker .* failed/);
      assert.match(r.err, /no space left for kiln-refused/);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
      assert.ok(received > 1024, `the archive was streamed to the engine (${received} bytes)`);
    } finally {
      fake.close();
    }
  });
});
