/**
 * RUN's networks against a sentinel on the host's loopback: the default network (its own
 * namespace behind slirp4netns) and `none` cannot reach it, `host` (allowed) can. The default
 * network still reaches out — TCP and UDP to the host's non-loopback address, through slirp's
 * NAT — and nothing it starts is left after a build, a failed build or a SIGKILL of kiln.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { namespacedResolvConf } from '../../src/executor/runc/etc.ts';
import {
  buildDockerfile,
  buildError,
  KILN,
  kiln,
  makeContext,
  openSuite,
  read,
  type Suite,
} from '../integration/build/helpers.ts';
import { processesWithEnv } from '../integration/executor/fixtures.ts';

// Every process kiln starts for this file inherits this, so what it leaves behind can be found.
const MARK = `KILN_NET_TEST=${randomUUID()}`;
process.env.KILN_NET_TEST = MARK.split('=')[1];

let suite: Suite;
/** The sentinel: a real HTTP server on the host's 127.0.0.1 that records every request. */
let sentinel: http.Server;
let sentinelPort: number;
const sentinelHits: string[] = [];
/** The requests the sentinel got for paths under `prefix` (each test probes its own). */
const hits = (prefix: string) => sentinelHits.filter((h) => h.startsWith(`GET ${prefix}`));
/** The host's first non-loopback IPv4 address: "outside" as far as the RUN's namespace goes. */
let hostIp: string;

before(async () => {
  suite = await openSuite('security-network');
  sentinel = http.createServer((req, res) => {
    sentinelHits.push(`${req.method} ${req.url}`);
    res.end('host loopback reached\n');
  });
  await new Promise<void>((r) => sentinel.listen(0, '127.0.0.1', r));
  sentinelPort = (sentinel.address() as AddressInfo).port;
  const ip = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  assert.ok(ip, 'this test needs a non-loopback IPv4 address on the host (e.g. eth0)');
  hostIp = ip.address;
});

after(async () => {
  sentinel.close();
  await suite.close();
});

/** What must be gone after a build: kiln's helpers, mounts under its root, nsfs mounts. */
async function assertNothingLeft(nsfsBefore: number) {
  for (let i = 0; i < 100 && processesWithEnv(MARK).length > 0; i++)
    await new Promise((r) => setTimeout(r, 25));
  assert.deepEqual(processesWithEnv(MARK), [], 'a process kiln started is still running');
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.includes(suite.root), 'a mount under kiln’s root was left');
  assert.equal(nsfsCount(mountinfo), nsfsBefore, 'a namespace was left bind-mounted');
}

function nsfsCount(mountinfo: string): number {
  return mountinfo.split('\n').filter((l) => / - nsfs /.test(l)).length;
}

const nsfsNow = async () => nsfsCount(await readFile('/proc/self/mountinfo', 'utf8'));

/** A RUN line that fetches `url` into /fetched-<name>, or records the failure in /<name>. */
function probe(name: string, url: string, network?: string): string {
  const flag = network ? `--network=${network} ` : '';
  // (busybox wget's -T timeout flag crashes this static build; the failures here are immediate)
  return `RUN ${flag}wget -q -O /fetched-${name} ${url} 2> /err-${name} && echo reached > /${name} || echo unreachable > /${name}`;
}

describe('RUN networks and the host’s loopback', () => {
  it('the default network cannot reach a server on the host’s 127.0.0.1, directly or as 10.0.2.2', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
${probe('lo', `http://127.0.0.1:${sentinelPort}/default-lo`)}
${probe('gw', `http://10.0.2.2:${sentinelPort}/default-gw`)}
`,
    );
    assert.equal(read(b.fs, 'lo'), 'unreachable\n');
    assert.equal(read(b.fs, 'gw'), 'unreachable\n');
    assert.match(read(b.fs, 'err-lo'), /can't connect to remote host \(127\.0\.0\.1\): Connection refused/);
    assert.match(read(b.fs, 'err-gw'), /can't connect to remote host \(10\.0\.2\.2\)/);
    assert.deepEqual(hits('/default'), [], 'the sentinel saw a request');
  });

  it('--network=none cannot reach it either', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\n${probe('none', `http://127.0.0.1:${sentinelPort}/none`, 'none')}\n`,
    );
    assert.equal(read(b.fs, 'none'), 'unreachable\n');
    assert.match(read(b.fs, 'err-none'), /can't connect/);
    assert.deepEqual(hits('/none'), []);
  });

  it('--network=host with --allow network.host does reach it (the probe works)', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\n${probe('host', `http://127.0.0.1:${sentinelPort}/host`, 'host')}\n`,
      {},
      { allow: ['network.host'] },
    );
    assert.equal(read(b.fs, 'host'), 'reached\n');
    assert.equal(read(b.fs, 'fetched-host'), 'host loopback reached\n');
    assert.deepEqual(hits('/host'), ['GET /host']);
  });
});

describe('the default network reaches out', () => {
  it('TCP to the host’s non-loopback address arrives through slirp4netns’s NAT', async () => {
    const seen: { url?: string; from?: string }[] = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url, from: req.socket.remoteAddress?.replace(/^::ffff:/, '') });
      res.end('outbound ok\n');
    });
    await new Promise<void>((r) => server.listen(0, hostIp, r));
    try {
      const port = (server.address() as AddressInfo).port;
      const b = await buildDockerfile(
        suite,
        `FROM busybox\n${probe('out', `http://${hostIp}:${port}/out`)}\n`,
      );
      assert.equal(read(b.fs, 'out'), 'reached\n', read(b.fs, 'err-out'));
      assert.equal(read(b.fs, 'fetched-out'), 'outbound ok\n');
      // The connection comes from a socket of the host (slirp4netns), not from 10.0.2.100.
      assert.deepEqual(seen, [{ url: '/out', from: hostIp }]);
    } finally {
      server.close();
    }
  });

  it('UDP too: a DNS query to a resolver on the host’s address is answered', async () => {
    const resolver = dgram.createSocket('udp4');
    resolver.on('message', (q, peer) =>
      resolver.send(dnsAnswer(q, [203, 0, 113, 7]), peer.port, peer.address),
    );
    await new Promise<void>((r) => resolver.bind(0, hostIp, r));
    try {
      const port = resolver.address().port;
      const b = await buildDockerfile(
        suite,
        `FROM busybox\nRUN nslookup kiln.test ${hostIp}:${port} > /answer 2>&1 || true\nRUN cat /etc/resolv.conf > /resolv\n`,
      );
      assert.match(read(b.fs, 'answer'), /Name:\s+kiln\.test\nAddress: 203\.0\.113\.7/);
      assert.equal(read(b.fs, 'resolv'), await namespacedResolvConf());
    } finally {
      resolver.close();
    }
  });
});

describe('nothing the default network starts outlives the build', () => {
  it('after a build and after a failing RUN', async () => {
    const nsfs = await nsfsNow();
    await buildDockerfile(suite, 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n');
    await assertNothingLeft(nsfs);
    const err = await buildError(suite, 'FROM busybox\nRUN echo fails; exit 7\n');
    assert.equal(err.code, 'EXEC_FAILED');
    await assertNothingLeft(nsfs);
  });

  it('after kiln is killed with SIGKILL mid-RUN and another kiln command runs', async () => {
    const nsfs = await nsfsNow();
    const tag = randomUUID();
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox\nRUN echo started-${tag} && sleep 60\n`,
    });
    await new Promise<void>((resolve, reject) => {
      const child = spawn(KILN, ['build', '--progress', 'plain', ctx], {
        env: { ...process.env, KILN_ROOT: suite.root, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const onData = (c: Buffer) => {
        out += c.toString('utf8');
        // `echo started-<tag>` appears in the log once the step runs (not where it is echoed back).
        if (new RegExp(`\\n[^\\n]*\\d started-${tag}`).test(out)) child.kill('SIGKILL');
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (_code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`kiln exited without SIGKILL:\n${out}`)),
      );
    });
    // slirp4netns notices its exit fd close and goes at once; only the container (and the
    // `runc run` waiting for it) stays until the next kiln cleans up.
    const helpers = () => processesWithEnv(MARK).filter((p) => p.comm !== 'runc');
    for (let i = 0; i < 200 && helpers().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(helpers(), [], 'slirp4netns and the namespace holder exit with kiln');
    const next = kiln(suite, [
      'build',
      '--progress',
      'plain',
      await makeContext(suite, { Dockerfile: `FROM busybox\nRUN echo next-${tag}\n` }),
    ]);
    assert.equal(next.code, 0, next.err);
    await assertNothingLeft(nsfs);
  });
});

/** A DNS response to query `q` with one A record (for A questions) or none. */
function dnsAnswer(q: Buffer, ip: number[]): Buffer {
  let end = 12;
  while (q[end] !== 0) end += q[end] + 1;
  const question = q.subarray(12, end + 5);
  const isA = q.readUInt16BE(end + 1) === 1;
  const header = Buffer.from(q.subarray(0, 12));
  header.writeUInt16BE(0x8180, 2); // response, recursion desired and available, no error
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(isA ? 1 : 0, 6);
  header.writeUInt32BE(0, 8);
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip]);
  return Buffer.concat([header, question, ...(isA ? [answer] : [])]);
}
