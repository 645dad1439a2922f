/**
 * Every Dockerfile instruction that shapes the image config or runs a command, built for real
 * (runc, overlayfs) and judged by the exported filesystem and the image config.
 */
import assert from 'node:assert/strict';
import { lstatSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Built,
  buildDockerfile,
  buildError,
  exists,
  openSuite,
  read,
  type Suite,
  stat,
} from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('instr');
});
after(() => suite.close());

describe('config instructions', () => {
  let b: Built;
  before(async () => {
    b = await buildDockerfile(
      suite,
      `FROM busybox
ENV A=1 B="two words"
ENV C 3 and more
LABEL org.example.one=1 "org.example.two"="second label"
EXPOSE 80 443/udp 8080/tcp
VOLUME /data
VOLUME ["/cache", "/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --start-interval=1s --retries=4 CMD wget -q localhost || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
USER app
WORKDIR /srv/app
`,
      {},
      { labels: { 'org.example.cli': 'from --label' } },
    );
  });

  it('ENV in both forms sets the environment and keeps the base PATH', () => {
    const env: string[] = b.image.config.config.Env;
    assert.ok(env.includes('A=1'));
    assert.ok(env.includes('B=two words'));
    assert.ok(env.includes('C=3 and more'));
    assert.ok(env.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
  });

  it('LABEL and --label both become labels', () => {
    assert.deepEqual(b.image.config.config.Labels, {
      'org.example.one': '1',
      'org.example.two': 'second label',
      'org.example.cli': 'from --label',
    });
  });

  it('EXPOSE records ports with their protocol (tcp by default)', () => {
    assert.deepEqual(b.image.config.config.ExposedPorts, { '80/tcp': {}, '443/udp': {}, '8080/tcp': {} });
  });

  it('VOLUME in both forms records volumes', () => {
    assert.deepEqual(b.image.config.config.Volumes, { '/data': {}, '/cache': {}, '/logs': {} });
  });

  it('STOPSIGNAL, ENTRYPOINT, CMD, USER and WORKDIR land in the config', () => {
    const c = b.image.config.config;
    assert.equal(c.StopSignal, 'SIGTERM');
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(c.Cmd, ['echo hi']);
    assert.equal(c.User, 'app');
    assert.equal(c.WorkingDir, '/srv/app');
  });

  it('HEALTHCHECK records the test and its options in nanoseconds', () => {
    assert.deepEqual(b.image.config.config.Healthcheck, {
      Test: ['CMD-SHELL', 'wget -q localhost || exit 1'],
      Interval: 5_000_000_000,
      Timeout: 2_000_000_000,
      StartPeriod: 1_000_000_000,
      StartInterval: 1_000_000_000,
      Retries: 4,
    });
  });

  it('WORKDIR creates the directory in the filesystem', () => {
    assert.equal(stat(b.fs, 'srv/app').type, 'dir');
  });

  it('history has one entry per instruction after the base, empty ones marked', () => {
    const h: { created_by: string; empty_layer?: boolean }[] = b.image.config.history;
    // base (1 entry for the imported rootfs + its changes) then ours
    const ours = h.slice(-12);
    assert.match(ours[0].created_by, /ENV A=1 B=two words/);
    assert.ok(ours.slice(0, 11).every((e) => e.empty_layer === true));
    assert.match(ours[11].created_by, /WORKDIR \/srv\/app/);
    assert.equal(b.image.layers.length, b.image.config.rootfs.diff_ids.length);
    assert.equal(h.filter((e) => !e.empty_layer).length, b.image.layers.length);
  });

  it('the image has the architecture and OS of the host', () => {
    assert.equal(b.image.config.os, 'linux');
    assert.equal(b.image.config.architecture, 'amd64');
  });
});

describe('CMD, ENTRYPOINT and SHELL forms', () => {
  it('shell-form CMD and ENTRYPOINT are wrapped in /bin/sh -c', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nENTRYPOINT exec echo hi\nCMD echo there\n');
    assert.deepEqual(b.image.config.config.Entrypoint, ['/bin/sh', '-c', 'exec echo hi']);
    assert.deepEqual(b.image.config.config.Cmd, ['/bin/sh', '-c', 'echo there']);
  });

  it('ENTRYPOINT resets a CMD inherited from the base image', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nENTRYPOINT ["/bin/true"]\n');
    assert.equal(b.image.config.config.Cmd ?? null, null);
  });

  it('SHELL changes the shell of following RUN and shell-form CMD, and is recorded', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
SHELL ["/bin/sh", "-xc"]
RUN echo traced > /traced
CMD echo done
`,
    );
    assert.deepEqual(b.image.config.config.Shell, ['/bin/sh', '-xc']);
    assert.deepEqual(b.image.config.config.Cmd, ['/bin/sh', '-xc', 'echo done']);
    assert.match(b.logs, /\+ echo traced/);
    assert.equal(read(b.fs, 'traced'), 'traced\n');
  });

  it('HEALTHCHECK NONE disables the base check', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nHEALTHCHECK NONE\n');
    assert.deepEqual(b.image.config.config.Healthcheck, { Test: ['NONE'] });
  });
});

describe('RUN', () => {
  it('shell form runs through /bin/sh -c with the image environment', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nENV GREETING=hello\nRUN echo "$GREETING from $(id -u)" > /out && echo $0 >> /out\n',
    );
    assert.equal(read(b.fs, 'out'), 'hello from 0\n/bin/sh\n');
  });

  it('exec form runs without a shell (no variable expansion)', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nENV X=1\nRUN ["/bin/busybox", "sh", "-c", "echo \'$X\' > /literal; echo $X > /expanded"]\n',
    );
    assert.equal(read(b.fs, 'literal'), '$X\n');
    assert.equal(read(b.fs, 'expanded'), '1\n');
  });

  it('a heredoc RUN runs a whole script, and a heredoc with a shebang uses that interpreter', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
RUN <<EOF
set -e
echo one > /heredoc
echo two >> /heredoc
EOF
RUN <<EOT
#!/usr/bin/awk -f
BEGIN { print "from awk" > "/awk" }
EOT
RUN cat > /catted <<'END'
$NOT_EXPANDED
END
`,
    );
    assert.equal(read(b.fs, 'heredoc'), 'one\ntwo\n');
    assert.equal(read(b.fs, 'awk'), 'from awk\n');
    assert.equal(read(b.fs, 'catted'), '$NOT_EXPANDED\n');
  });

  it('each RUN adds exactly one layer holding only what it changed', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN echo a > /a\nRUN mkdir -p /d && echo b > /d/b\n',
    );
    assert.equal(b.image.layers.length, 3);
    assert.deepEqual(
      b.image.layers[1].map((f) => f.path),
      ['a'],
    );
    assert.deepEqual(
      b.image.layers[2].map((f) => f.path),
      ['d', 'd/b'],
    );
  });
});

describe('USER', () => {
  it('USER by name runs the next RUN as that user with its home and group', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nUSER app\nRUN id -u > /tmp/u; id -g >> /tmp/u; touch /tmp/made\n',
    );
    assert.equal(read(b.fs, 'tmp/u'), '1000\n1000\n');
    const st = stat(b.fs, 'tmp/made');
    assert.equal(st.uid, 1000);
    assert.equal(st.gid, 1000);
  });

  it('USER uid:gid works for ids that are not in /etc/passwd', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nUSER 4242:4343\nRUN touch /tmp/ids\n');
    const st = stat(b.fs, 'tmp/ids');
    assert.equal(st.uid, 4242);
    assert.equal(st.gid, 4343);
    assert.equal(b.image.config.config.User, '4242:4343');
  });
});

describe('WORKDIR', () => {
  it('relative WORKDIR resolves against the previous one and RUN starts there', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nWORKDIR /a\nWORKDIR b\nWORKDIR c\nRUN pwd > here\n',
    );
    assert.equal(b.image.config.config.WorkingDir, '/a/b/c');
    assert.equal(read(b.fs, 'a/b/c/here'), '/a/b/c\n');
  });

  it('WORKDIR with a variable expands it', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nENV D=/from-env\nWORKDIR $D/sub\n');
    assert.equal(b.image.config.config.WorkingDir, '/from-env/sub');
    assert.ok(exists(b.fs, 'from-env/sub'));
  });
});

describe('ARG', () => {
  it('defaults, --build-arg overrides, and ARG values are visible to RUN but not kept in the config', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nARG ONE=default1\nARG TWO=default2\nRUN echo "$ONE $TWO" > /args\n',
      {},
      { buildArgs: { TWO: 'given' } },
    );
    assert.equal(read(b.fs, 'args'), 'default1 given\n');
    const env: string[] = b.image.config.config.Env;
    assert.ok(!env.some((e) => e.startsWith('ONE=') || e.startsWith('TWO=')));
  });

  it('a global ARG is usable in FROM and must be redeclared to be seen inside a stage', async () => {
    const b = await buildDockerfile(
      suite,
      `ARG BASE=busybox
ARG V=global
FROM \${BASE} AS one
RUN echo "[$V]" > /before
ARG V
RUN echo "[$V]" > /after
`,
    );
    assert.equal(read(b.fs, 'before'), '[]\n');
    assert.equal(read(b.fs, 'after'), '[global]\n');
  });

  it('ARG declared in one stage is not visible in another', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS first
ARG ONLY_HERE=x
RUN echo $ONLY_HERE > /x
FROM busybox
COPY --from=first /x /x
RUN echo "[$ONLY_HERE]" > /y
`,
    );
    assert.equal(read(b.fs, 'x'), 'x\n');
    assert.equal(read(b.fs, 'y'), '[]\n');
  });

  it('TARGETPLATFORM, TARGETARCH, TARGETOS and BUILDPLATFORM are set automatically', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ARG TARGETPLATFORM
ARG TARGETARCH
ARG TARGETOS
ARG BUILDPLATFORM
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM" > /platform
`,
    );
    assert.equal(read(b.fs, 'platform'), 'linux/amd64 linux amd64 linux/amd64\n');
  });

  it('ENV overrides ARG of the same name', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nARG X=arg\nENV X=env\nRUN echo $X > /x\n',
      {},
      { buildArgs: { X: 'cli' } },
    );
    assert.equal(read(b.fs, 'x'), 'env\n');
  });
});

describe('ONBUILD', () => {
  it('triggers of a base stage run when a later stage builds FROM it, and are not inherited further', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS base
ONBUILD RUN echo triggered > /onbuild
ONBUILD COPY note.txt /note.txt
RUN test ! -e /onbuild

FROM base
RUN cat /onbuild /note.txt > /seen
`,
      { 'note.txt': 'a note\n' },
    );
    assert.equal(read(b.fs, 'seen'), 'triggered\na note\n');
    assert.equal(b.image.config.config.OnBuild ?? null, null);
  });

  it('a stage that declares ONBUILD keeps the triggers in its config', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nONBUILD RUN echo later\n');
    assert.deepEqual(b.image.config.config.OnBuild, ['RUN echo later']);
    assert.ok(!exists(b.fs, 'onbuild'));
  });
});

describe('FROM', () => {
  it('FROM scratch with a COPY gives an image of exactly that file', async () => {
    const b = await buildDockerfile(suite, 'FROM scratch\nCOPY hello /hello\n', { hello: 'hi\n' });
    assert.equal(b.image.layers.length, 1);
    assert.deepEqual(
      b.image.layers[0].map((f) => f.path),
      ['hello'],
    );
    assert.equal(read(b.fs, 'hello'), 'hi\n');
    // BuildKit gives scratch stages the default PATH
    assert.deepEqual(b.image.config.config.Env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
  });

  it('FROM --platform picks that platform of a multi-platform base', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM --platform=linux/arm64 busybox AS arm\nFROM busybox\nCOPY --from=arm /bin/busybox /arm-busybox\n',
    );
    const arm = stat(b.fs, 'arm-busybox');
    const host = stat(b.fs, 'bin/busybox');
    assert.equal(arm.type, 'file');
    // ELF e_machine: 0xb7 is aarch64, 0x3e is x86-64
    assert.equal(readFileSync(join(b.fs, 'arm-busybox'))[18], 0xb7);
    assert.equal(readFileSync(join(b.fs, 'bin/busybox'))[18], 0x3e);
    assert.equal(host.type, 'file');
  });
});

describe('BuildKit details', () => {
  it('history records RUN as BuildKit does, with the build args it used', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nARG V=1\nRUN echo "$V" > /v\nCOPY f /f\n',
      { f: 'f' },
      { buildArgs: { V: '2' } },
    );
    const h: { created_by: string; comment?: string; empty_layer?: boolean }[] = b.image.config.history;
    // BuildKit records the value the ARG took, --build-arg included
    assert.equal(h.at(-3)?.created_by, 'ARG V=2');
    assert.equal(h.at(-2)?.created_by, 'RUN |1 V=2 /bin/sh -c echo "$V" > /v # buildkit');
    assert.equal(h.at(-1)?.created_by, 'COPY f /f # buildkit');
    assert.equal(h.at(-1)?.comment, 'buildkit.dockerfile.v0');
  });

  it('ENV, LABEL, EXPOSE and COPY destinations expand earlier variables', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ENV A=1 DIR=/opt/app
ENV B=\${A}2 C="$A $DIR"
LABEL version=$B
ARG PORT=8080
EXPOSE $PORT 9000-9001/udp
COPY f $DIR/
`,
      { f: 'f' },
    );
    const env: string[] = b.image.config.config.Env;
    assert.ok(env.includes('B=12'));
    assert.ok(env.includes('C=1 /opt/app'));
    assert.equal(b.image.config.config.Labels.version, '12');
    assert.deepEqual(b.image.config.config.ExposedPorts, { '8080/tcp': {}, '9000/udp': {}, '9001/udp': {} });
    assert.equal(read(b.fs, 'opt/app/f'), 'f');
  });

  it('WORKDIR after USER creates the directory owned by that user', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nUSER app\nWORKDIR /work/dir\nRUN touch made\n');
    assert.equal(stat(b.fs, 'work/dir').uid, 1000);
    assert.equal(stat(b.fs, 'work/dir/made').uid, 1000);
  });

  it('COPY creates missing parent directories 0755 owned by root, even with --chown', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY --chown=app f /new/deep/f\n', { f: 'f' });
    const parent = stat(b.fs, 'new/deep');
    assert.equal(parent.mode, 0o755);
    assert.equal(stat(b.fs, 'new/deep/f').uid, 1000);
  });

  it('COPY of several sources to a destination without a trailing slash keeps the last, like BuildKit', async () => {
    // The classic builder refused this; BuildKit copies each source onto /dest in turn, so the
    // last one wins (moby/buildkit#1853, still open). kiln matches the reference.
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY a b /dest\n', { a: 'a', b: 'b' });
    assert.equal(stat(b.fs, 'dest').type, 'file');
    assert.equal(read(b.fs, 'dest'), 'b');
  });

  it('a .dockerignore that lists the Dockerfile still builds', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY . /ctx/\n', {
      '.dockerignore': 'Dockerfile\n.dockerignore\n',
      keep: 'k',
    });
    assert.ok(exists(b.fs, 'ctx/keep'));
    assert.ok(!exists(b.fs, 'ctx/Dockerfile'));
  });

  it('a global ARG overridden by --build-arg picks the base image', async () => {
    const b = await buildDockerfile(
      suite,
      'ARG BASE=no-such-image\nFROM $BASE\nRUN echo ok > /ok\n',
      {},
      { buildArgs: { BASE: 'busybox' } },
    );
    assert.equal(read(b.fs, 'ok'), 'ok\n');
  });

  it('RUN sees HOSTNAME-independent defaults: PATH from the image and HOME for the user', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN echo "$PATH|$HOME" > /root-env\nUSER app\nRUN echo "$HOME" > /tmp/app-home\n',
    );
    assert.equal(
      read(b.fs, 'root-env'),
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root\n',
    );
    assert.equal(read(b.fs, 'tmp/app-home'), '/home/app\n');
  });
});

describe('inheritance and overrides', () => {
  it('a stage FROM another stage inherits its ENV, WORKDIR, USER and labels', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS base
ENV FROM_BASE=yes
WORKDIR /inherited
USER app
LABEL layer=base keep=me
FROM base
LABEL layer=child
RUN pwd > /tmp/here && id -u >> /tmp/here && echo $FROM_BASE >> /tmp/here
`,
    );
    assert.equal(read(b.fs, 'tmp/here'), '/inherited\n1000\nyes\n');
    assert.deepEqual(b.image.config.config.Labels, { layer: 'child', keep: 'me' });
    assert.equal(b.image.config.config.User, 'app');
  });

  it('--label overrides a Dockerfile LABEL with the same key', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nLABEL who=dockerfile\n',
      {},
      { labels: { who: 'cli' } },
    );
    assert.equal(b.image.config.config.Labels.who, 'cli');
  });

  it('ENTRYPOINT keeps a CMD set earlier in the same stage', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCMD ["arg"]\nENTRYPOINT ["/bin/echo"]\n');
    assert.deepEqual(b.image.config.config.Cmd, ['arg']);
    assert.deepEqual(b.image.config.config.Entrypoint, ['/bin/echo']);
  });

  it('an ARG without a value is not in the RUN environment at all; an empty ENV is', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ARG NOVALUE
ENV EMPTY=
RUN echo "\${NOVALUE-unset} \${EMPTY-unset}" > /vals
`,
    );
    assert.equal(read(b.fs, 'vals'), 'unset \n');
    assert.ok((b.image.config.config.Env as string[]).includes('EMPTY='));
  });

  it('--platform linux/arm64 alone builds an arm64 image and runs its RUN under emulation', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN uname -m > /m\n',
      {},
      {
        platforms: [{ os: 'linux', architecture: 'arm64' }],
      },
    );
    assert.equal(b.image.config.architecture, 'arm64');
    assert.equal(read(b.fs, 'm'), 'aarch64\n');
  });

  it('history: a metadata step right after FROM is dated by the first new layer, not the base image', async () => {
    const before = Date.now() - 60_000;
    const b = await buildDockerfile(suite, 'FROM busybox\nLABEL first=1\nRUN echo x > /x\nENV LAST=1\n');
    const h: { created: string; created_by: string }[] = b.image.config.history;
    const [label, run, env] = h.slice(-3);
    assert.match(label.created_by, /LABEL first=1/);
    assert.ok(Date.parse(label.created) >= before, `LABEL dated ${label.created}`);
    assert.equal(label.created, run.created);
    assert.equal(env.created, run.created);
    assert.equal(b.image.config.created, run.created);
  });

  it('SOURCE_DATE_EPOCH sets the created time of the image and of its history', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN echo x > /x\nENV Y=1\n',
      {},
      { sourceDateEpoch: 1700000000 },
    );
    assert.equal(b.image.config.created, '2023-11-14T22:13:20Z');
    const h: { created: string }[] = b.image.config.history;
    assert.equal(h.at(-1)?.created, '2023-11-14T22:13:20Z');
    assert.equal(h.at(-2)?.created, '2023-11-14T22:13:20Z');
  });
});

describe('more BuildKit behaviour', () => {
  it('ONBUILD triggers of a base image in the store run in a build FROM it', async () => {
    await buildDockerfile(
      suite,
      'FROM busybox\nONBUILD RUN echo from-image-trigger > /trig\n',
      {},
      {
        tags: ['kiln-spec/onbuild-base:1'],
        noLocal: true,
      },
    );
    const b = await buildDockerfile(suite, 'FROM kiln-spec/onbuild-base:1\nRUN cat /trig > /seen\n');
    assert.equal(read(b.fs, 'seen'), 'from-image-trigger\n');
    assert.equal(b.image.config.config.OnBuild ?? null, null);
  });

  it('files a RUN writes under a declared VOLUME are kept (BuildKit, unlike the classic builder)', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nVOLUME /data\nRUN mkdir -p /data && echo kept > /data/f\n',
    );
    assert.equal(read(b.fs, 'data/f'), 'kept\n');
  });

  it('an unquoted heredoc is expanded by the shell at run time; a quoted one is not', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ENV X=expanded
RUN cat <<EOF > /unquoted
$X
EOF
RUN cat <<"EOF" > /quoted
$X
EOF
`,
    );
    assert.equal(read(b.fs, 'unquoted'), 'expanded\n');
    assert.equal(read(b.fs, 'quoted'), '$X\n');
  });

  it('COPY --from an image in a multi-platform build takes each platform’s variant', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM scratch\nCOPY --from=busybox /bin/busybox /bb\n',
      {},
      {
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
      },
    );
    assert.equal(readFileSync(join(b.fs, 'linux_amd64/bb'))[18], 0x3e);
    assert.equal(readFileSync(join(b.fs, 'linux_arm64/bb'))[18], 0xb7);
  });

  it('ADD of a URL keeps the server’s Last-Modified time as the file mtime', async () => {
    const srv = http.createServer((_q, r) => {
      r.writeHead(200, { 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      r.end('dated\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const b = await buildDockerfile(
        suite,
        `FROM busybox\nADD http://127.0.0.1:${port}/dated.txt /dated.txt\n`,
      );
      assert.equal(lstatSync(join(b.fs, 'dated.txt')).mtimeMs, Date.UTC(2024, 0, 1));
    } finally {
      srv.close();
    }
  });

  it('RUN in a FROM scratch stage fails saying the shell is missing', async () => {
    const err = await buildError(suite, 'FROM scratch\nRUN echo hi\n');
    assert.match(err.message, /\/bin\/sh/);
    assert.equal(err.location?.startLine, 2);
  });

  it('variables expand in --chown and --chmod', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nARG OWNER=123:45\nARG MODE=0700\nCOPY --chown=$OWNER --chmod=$MODE f /f\n',
      { f: 'f' },
    );
    const st = stat(b.fs, 'f');
    assert.deepEqual([st.uid, st.gid, st.mode], [123, 45, 0o700]);
  });
});
