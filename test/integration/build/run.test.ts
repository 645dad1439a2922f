/**
 * RUN's mounts, network modes and security modes end to end: what the command sees while it runs
 * and what it leaves (or must not leave) in the image.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  buildError,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
  stat,
} from './helpers.ts';

let suite: Suite;
let server: http.Server;
let port: number;

before(async () => {
  suite = await openSuite('run');
  server = http.createServer((_req, res) => res.end('host network reached\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.close();
  await suite.close();
});

describe('RUN --mount', () => {
  it('type=bind mounts the context read-only by default; rw writes are discarded', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/x > /seen && ! touch /mnt/new 2>/dev/null
RUN --mount=type=bind,source=data,target=/mnt,rw echo changed > /mnt/x && cat /mnt/x > /seen-rw
`,
      { 'data/x': 'from context\n' },
    );
    assert.equal(read(b.fs, 'seen'), 'from context\n');
    assert.equal(read(b.fs, 'seen-rw'), 'changed\n');
    assert.ok(!exists(b.fs, 'mnt/x'), 'the bind mount’s content is not part of the image');
  });

  it('type=bind from another stage', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS tools
RUN echo tool > /tool.txt
FROM busybox
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cat /t.txt > /used
`,
    );
    assert.equal(read(b.fs, 'used'), 'tool\n');
    assert.ok(!exists(b.fs, 'tool.txt'));
  });

  it('type=cache persists between builds and stays out of the image', async () => {
    const first = await buildDockerfile(
      suite,
      'FROM busybox\nRUN --mount=type=cache,id=kiln-spec,target=/var/cache/app echo first >> /var/cache/app/log\n',
    );
    assert.ok(!exists(first.fs, 'var/cache/app/log'));
    const second = await buildDockerfile(
      suite,
      'FROM busybox\nRUN --mount=type=cache,id=kiln-spec,target=/c cat /c/log > /from-cache\n',
    );
    assert.equal(read(second.fs, 'from-cache'), 'first\n');
  });

  it('type=cache with mode and uid creates the cache directory owned so', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN --mount=type=cache,id=owned,target=/c,uid=1000,gid=1000,mode=0700 stat -c "%u %g %a" /c > /st\n',
    );
    assert.equal(read(b.fs, 'st'), '1000 1000 700\n');
  });

  it('type=tmpfs gives an empty writable tmpfs whose content is dropped', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep " /scratch " /proc/mounts | cut -d" " -f3 > /fstype\n',
    );
    assert.equal(read(b.fs, 'fstype'), 'tmpfs\n');
    assert.ok(!exists(b.fs, 'scratch/f'));
  });

  it('type=secret exposes a file secret and an env secret only during the RUN', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox
RUN --mount=type=secret,id=token cat /run/secrets/token > /copied
RUN --mount=type=secret,id=other,target=/etc/other.txt,mode=0400 stat -c "%a" /etc/other.txt > /mode
RUN --mount=type=secret,id=envsecret,env=MY_SECRET echo "$MY_SECRET" > /env
`,
    });
    const tokenFile = join(suite.dir, 'token.txt');
    await writeFile(tokenFile, 's3cr3t');
    process.env.KILN_SPEC_SECRET = 'from-env';
    const b = await buildContext(suite, ctx, {
      secrets: [
        { id: 'token', src: tokenFile },
        { id: 'other', src: tokenFile },
        { id: 'envsecret', env: 'KILN_SPEC_SECRET' },
      ],
    });
    assert.equal(read(b.fs, 'copied'), 's3cr3t');
    assert.equal(read(b.fs, 'mode'), '400\n');
    assert.equal(read(b.fs, 'env'), 'from-env\n');
    assert.ok(!exists(b.fs, 'run/secrets/token'));
    assert.ok(!exists(b.fs, 'etc/other.txt'));
  });

  it('a required secret that was not given fails the build', async () => {
    const err = await buildError(
      suite,
      'FROM busybox\nRUN --mount=type=secret,id=absent,required cat /run/secrets/absent\n',
    );
    assert.match(err.message, /absent/);
  });

  it('type=ssh forwards the agent socket and sets SSH_AUTH_SOCK', async () => {
    // A stand-in agent: a unix socket server that records what it is sent.
    const sock = join(suite.dir, 'agent.sock');
    let received = '';
    const agent = createServer((c) => c.on('data', (d) => (received += d.toString())));
    await new Promise<void>((r) => agent.listen(sock, r));
    try {
      const ctx = await makeContext(suite, {
        Dockerfile:
          'FROM busybox\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock\n',
      });
      const b = await buildContext(suite, ctx, { ssh: [{ id: 'default', paths: [sock] }] });
      assert.equal(read(b.fs, 'sock'), '/run/buildkit/ssh_agent.0\n');
      assert.ok(!exists(b.fs, 'run/buildkit/ssh_agent.0'), 'the socket is not left in the image');
      assert.equal(received, '');
    } finally {
      agent.close();
    }
  });
});

describe('RUN --network', () => {
  it('--network=none has only a loopback interface', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN --network=none ls /sys/class/net > /ifaces\n');
    assert.equal(read(b.fs, 'ifaces'), 'lo\n');
  });

  it('--network=host reaches a server on the host’s 127.0.0.1', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nRUN --network=host wget -q -O /fetched http://127.0.0.1:${port}/\n`,
      {},
      { allow: ['network.host'] },
    );
    assert.equal(read(b.fs, 'fetched'), 'host network reached\n');
  });

  it('--network=host without --allow network.host is refused before anything runs, at its line', async () => {
    const err = await buildError(suite, 'FROM busybox\nRUN echo ok\nRUN --network=host true\n');
    assert.equal(err.code, 'ENTITLEMENT_DENIED');
    assert.equal(err.location?.startLine, 3);
    assert.match(err.hint ?? '', /--allow network\.host/);
  });

  it('with --network=none the host’s 127.0.0.1 is not reachable', async () => {
    // (busybox wget's -T timeout flag crashes this static build, so none is used here)
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN --network=none wget -q -O /fetched http://127.0.0.1:${port}/ 2> /err || echo unreachable > /none
`,
    );
    assert.equal(read(b.fs, 'none'), 'unreachable\n');
    assert.match(read(b.fs, 'err'), /can't connect|Connection refused|unreachable/i);
    assert.ok(!exists(b.fs, 'fetched') || read(b.fs, 'fetched') === '');
  });
});

describe('RUN --security', () => {
  it('sandbox (the default) drops capabilities such as CAP_SYS_ADMIN; insecure keeps them', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN grep CapEff /proc/self/status | cut -f2 > /sandbox
RUN --security=insecure grep CapEff /proc/self/status | cut -f2 > /insecure
`,
      {},
      { allow: ['security.insecure'] },
    );
    const sandbox = BigInt(`0x${read(b.fs, 'sandbox').trim()}`);
    const insecure = BigInt(`0x${read(b.fs, 'insecure').trim()}`);
    const CAP_SYS_ADMIN = 1n << 21n;
    const CAP_CHOWN = 1n << 0n;
    assert.equal(sandbox & CAP_SYS_ADMIN, 0n);
    assert.equal(sandbox & CAP_CHOWN, CAP_CHOWN);
    assert.equal(insecure & CAP_SYS_ADMIN, CAP_SYS_ADMIN);
  });

  it('the default seccomp filter refuses namespace creation; insecure runs unfiltered', async () => {
    const probe = (name: string) =>
      `grep Seccomp: /proc/self/status | cut -f2 > /${name}-mode; (unshare -U true 2>/dev/null && echo allowed || echo refused) > /${name}-unshare`;
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nRUN ${probe('sandbox')}\nRUN --security=insecure ${probe('insecure')}\n`,
      {},
      { allow: ['security.insecure'] },
    );
    assert.equal(read(b.fs, 'sandbox-mode').trim(), '2', 'a seccomp filter is in force');
    assert.equal(read(b.fs, 'sandbox-unshare').trim(), 'refused');
    assert.equal(read(b.fs, 'insecure-mode').trim(), '0');
    assert.equal(read(b.fs, 'insecure-unshare').trim(), 'allowed');
  });

  it('--security=insecure needs --allow security.insecure', async () => {
    const err = await buildError(suite, 'FROM busybox\nRUN --security=insecure true\n');
    assert.equal(err.code, 'ENTITLEMENT_DENIED');
    assert.match(err.message, /security\.insecure/);
  });
});

describe('RUN failures', () => {
  it('a failing command fails the build with its exit code and the Dockerfile line', async () => {
    const err = await buildError(suite, 'FROM busybox\nRUN true\nRUN echo about to fail; exit 7\n');
    assert.match(err.message, /exited with code 7/);
    assert.match(err.message, /exit 7/);
    assert.equal(err.location?.startLine, 3);
  });

  it('an exec-form command that is not in the image is reported as such, with the line', async () => {
    const err = await buildError(suite, 'FROM busybox\nRUN ["/no/such/tool", "--flag"]\n');
    assert.equal(err.code, 'EXEC_NOT_FOUND');
    assert.match(err.message, /\/no\/such\/tool: no such file or directory/);
    assert.equal(err.location?.startLine, 2);
  });

  it('files a RUN creates keep the owner and mode it gave them', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN echo x > /f && chown 12:34 /f && chmod 4750 /f && ln -s /f /l && mkdir -m 1777 /sticky\n',
    );
    assert.deepEqual(stat(b.fs, 'f'), {
      type: 'file',
      mode: 0o4750,
      uid: 12,
      gid: 34,
      content: 'x\n',
      target: undefined,
    });
    assert.equal(stat(b.fs, 'l').target, '/f');
    assert.equal(stat(b.fs, 'sticky').mode, 0o1777);
  });
});

describe('RUN hostname (as BuildKit)', () => {
  it('is buildkitsandbox, in /etc/hosts too, and there is no /etc/hostname unless the image has one', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN hostname > /name && grep buildkitsandbox /etc/hosts > /hosts-line && (test -e /etc/hostname && echo present || echo absent) > /before
RUN echo from-image > /etc/hostname
RUN cat /etc/hostname > /after
`,
    );
    assert.equal(read(b.fs, 'name'), 'buildkitsandbox\n');
    assert.equal(read(b.fs, 'hosts-line'), '127.0.0.1\tlocalhost buildkitsandbox\n');
    assert.equal(read(b.fs, 'before'), 'absent\n');
    assert.equal(read(b.fs, 'after'), 'from-image\n');
  });
});
