/**
 * buildx's RUN-environment flags end to end, in real runc containers: `--add-host` lines in
 * /etc/hosts (and `host-gateway` reaching the host), `--shm-size` on /dev/shm, `--ulimit` limits,
 * `--cgroup-parent` in /proc/self/cgroup; each part of the RUN's cache key; bad values refused
 * by `kiln build` naming the flag and the value.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDockerfile, buildError, kiln, makeContext, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('run-flags');
});
after(() => suite.close());

describe('--add-host', () => {
  it('adds its lines to every RUN’s /etc/hosts, after the default ones', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN cat /etc/hosts > /hosts\nFROM busybox\nRUN cat /etc/hosts > /hosts2\n',
      {},
      {
        extraHosts: [
          { host: 'db.internal', ip: '10.1.2.3' },
          { host: 'v6.internal', ip: 'fd00::1' },
        ],
      },
    );
    assert.equal(
      read(b.fs, 'hosts2'),
      '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb.internal\nfd00::1\tv6.internal\n',
    );
  });

  it('host-gateway is the host’s address: a RUN reaches a server on the host by that name', async () => {
    const server = http.createServer((_req, res) => res.end('host reached by name\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    try {
      const { port } = server.address() as AddressInfo;
      const b = await buildDockerfile(
        suite,
        `FROM busybox\nRUN wget -q -O /fetched http://kiln-host.test:${port}/ && grep kiln-host.test /etc/hosts > /line\n`,
        {},
        { extraHosts: [{ host: 'kiln-host.test', ip: 'host-gateway' }] },
      );
      assert.equal(read(b.fs, 'fetched'), 'host reached by name\n');
      assert.match(read(b.fs, 'line'), /^\d+\.\d+\.\d+\.\d+\tkiln-host\.test\n$/);
      assert.doesNotMatch(read(b.fs, 'line'), /^127\./);
    } finally {
      server.close();
    }
  });
});

describe('--shm-size', () => {
  const shmLine = (fs: string) =>
    read(fs, 'mounts')
      .split('\n')
      .filter((l) => l.split(' ')[1] === '/dev/shm');

  it('sizes /dev/shm (one tmpfs there, no other beneath it); without it /dev/shm is 64 MiB', async () => {
    const sized = await buildDockerfile(
      suite,
      'FROM busybox\nRUN cat /proc/mounts > /mounts\n',
      {},
      { shmSize: 2 * 2 ** 30 },
    );
    const lines = shmLine(sized.fs);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /^\S+ \/dev\/shm tmpfs \S*size=2097152k/);
    const plain = await buildDockerfile(suite, 'FROM busybox\nRUN cat /proc/mounts > /mounts\n');
    assert.match(shmLine(plain.fs)[0], /size=65536k/);
  });

  it('a RUN that mounts its own /dev/shm keeps it', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN --mount=type=tmpfs,target=/dev/shm,size=1m cat /proc/mounts > /mounts\n',
      {},
      { shmSize: 2 ** 30 },
    );
    assert.match(shmLine(b.fs).at(-1) ?? '', /size=1024k/);
  });
});

describe('--ulimit', () => {
  it('sets soft and hard limits; other limits keep their defaults', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN ulimit -n > /n && cat /proc/self/limits > /limits\n',
      {},
      {
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 2048 },
          { name: 'core', soft: 0, hard: -1 },
        ],
      },
    );
    assert.equal(read(b.fs, 'n'), '1024\n');
    const limits = read(b.fs, 'limits');
    assert.match(limits, /^Max open files\s+1024\s+2048\s/m);
    assert.match(limits, /^Max core file size\s+0\s+unlimited\s/m);
  });

  it('a hard limit above kiln’s own is refused by name when kiln cannot raise it, else granted', async () => {
    const own = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    const hard = Number(own) + 1;
    const eff = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    const dockerfile = 'FROM busybox\nRUN cat /proc/self/limits > /limits\n';
    const ulimits = [{ name: 'nofile', soft: 1024, hard }];
    if ((BigInt(`0x${eff}`) >> 24n) & 1n) {
      const b = await buildDockerfile(suite, dockerfile, {}, { ulimits });
      assert.match(read(b.fs, 'limits'), new RegExp(`^Max open files\\s+1024\\s+${hard}\\s`, 'm'));
    } else {
      const err = await buildError(suite, dockerfile, {}, { ulimits });
      assert.equal(err.code, 'ULIMIT_TOO_HIGH');
      assert.match(err.message, new RegExp(`--ulimit nofile=1024:${hard}`));
    }
  });
});

describe('--cgroup-parent', () => {
  it('puts RUN containers under <parent>/kiln/', async () => {
    const parent = `kiln-test-${randomBytes(4).toString('hex')}`;
    try {
      const b = await buildDockerfile(
        suite,
        'FROM busybox\nRUN cat /proc/self/cgroup > /cgroup\n',
        {},
        { cgroupParent: parent },
      );
      const lines = read(b.fs, 'cgroup').trim().split('\n');
      // Every controller's line (v1) or the one unified line (v2) names the parent.
      const pids = lines.find(
        (l) => /^\d+:(pids)?:/.test(l) && (l.includes(':pids:') || l.startsWith('0::')),
      );
      assert.match(pids ?? '', new RegExp(`:/${parent}/kiln/kiln-[0-9a-f]+$`), lines.join('\n'));
    } finally {
      removeCgroup(parent);
    }
  });
});

/** runc removes each container's own cgroup; the parent directories kiln asked for stay (as with BuildKit). */
function removeCgroup(parent: string): void {
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c))];
  for (const r of roots) {
    for (const d of [join(r, parent, 'kiln'), join(r, parent)]) {
      try {
        rmdirSync(d);
      } catch {
        // Not in this hierarchy.
      }
    }
  }
}

describe('the RUN settings are part of the cache key (as in BuildKit’s ExecOp)', () => {
  it('the same settings hit the cache; a changed host, limit, shm size or cgroup parent runs again', async () => {
    const dockerfile = `FROM busybox\nRUN echo ${randomBytes(4).toString('hex')} > /x\n`;
    const base = {
      extraHosts: [{ host: 'a.test', ip: '10.0.0.1' }],
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      shmSize: 2 ** 27,
    };
    /** Whether the RUN came from the cache. */
    const cached = async (req: object) =>
      (await buildDockerfile(suite, dockerfile, {}, req)).cached.some((n) => n.includes('RUN echo'));
    assert.equal(await cached(base), false);
    assert.equal(await cached(base), true, 'the same settings are a cache hit');
    assert.equal(await cached({ ...base, extraHosts: [{ host: 'a.test', ip: '10.0.0.2' }] }), false);
    assert.equal(await cached({ ...base, ulimits: [{ name: 'nofile', soft: 1000, hard: 2048 }] }), false);
    assert.equal(await cached({ ...base, shmSize: 2 ** 28 }), false);
    const parent = `kiln-test-${randomBytes(4).toString('hex')}`;
    try {
      assert.equal(await cached({ ...base, cgroupParent: parent }), false);
    } finally {
      removeCgroup(parent);
    }
  });
});

describe('bad values', () => {
  const cases: [string[], RegExp][] = [
    [['--ulimit', 'nofile=x'], /invalid --ulimit "nofile=x"/],
    [['--ulimit', 'bogus=1'], /invalid --ulimit "bogus=1": unknown type "bogus"/],
    [['--ulimit', 'nofile=2048:1024'], /invalid --ulimit "nofile=2048:1024": the soft limit is above/],
    [['--add-host', 'nohost'], /invalid --add-host "nohost"/],
    [['--add-host', 'db:1.2.3'], /invalid --add-host "db:1.2.3": "1.2.3" is not an IP address/],
    [['--shm-size', '2x'], /invalid --shm-size "2x"/],
    [['--cgroup-parent', '../escape'], /invalid --cgroup-parent "..\/escape"/],
    [['--cgroup-parent', 'a.slice:x:'], /invalid --cgroup-parent "a.slice:x:": systemd/],
  ];
  for (const [args, message] of cases) {
    it(`kiln build ${args.join(' ')} fails naming the flag and the value, without a stack trace`, async () => {
      const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN true\n' });
      const r = kiln(suite, ['build', ...args, ctx]);
      assert.notEqual(r.code, 0);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    });
  }

  it('the library refuses the same values (a library caller has no CLI in front)', async () => {
    const err = await buildError(
      suite,
      'FROM busybox\nRUN true\n',
      {},
      { ulimits: [{ name: 'nofile', soft: 5, hard: 1 }] },
    );
    assert.equal(err.code, 'INVALID_FLAG');
    assert.match(err.message, /--ulimit "nofile=5:1"/);
  });
});
