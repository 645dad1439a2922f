import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerConfig, HistoryEntry } from '../../../oci/config.ts';
import { convert } from './testing.ts';

// One case per config instruction: the Dockerfile after `FROM alpine`, the config fields it must
// produce, and the history entry BuildKit writes for it.
const cases: {
  name: string;
  lines: string;
  config: Partial<ContainerConfig>;
  history: HistoryEntry;
  author?: string;
}[] = [
  {
    name: 'ENV (both forms, expansion)',
    lines: 'ENV A=1 B="two words"\nENV C $A-x',
    config: {
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'A=1',
        'B=two words',
        'C=1-x',
      ],
    },
    history: { created_by: 'ENV C=1-x', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'LABEL',
    lines: 'ARG V=3\nLABEL org.opencontainers.image.version=$V "a b"=c',
    config: { Labels: { 'org.opencontainers.image.version': '3', 'a b': 'c' } },
    history: {
      created_by: 'LABEL org.opencontainers.image.version=3 a b=c',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'CMD shell form',
    lines: 'CMD echo "hi"',
    config: { Cmd: ['/bin/sh', '-c', 'echo "hi"'], ArgsEscaped: true },
    history: {
      created_by: 'CMD ["/bin/sh" "-c" "echo \\"hi\\""]',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'ENTRYPOINT resets an inherited CMD',
    lines: 'ENTRYPOINT ["/app", "--serve"]',
    config: { Entrypoint: ['/app', '--serve'], Cmd: null },
    history: {
      created_by: 'ENTRYPOINT ["/app" "--serve"]',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'ENTRYPOINT keeps a CMD from the same stage',
    lines: 'CMD ["x"]\nENTRYPOINT ["/app"]',
    config: { Entrypoint: ['/app'], Cmd: ['x'] },
    history: { created_by: 'ENTRYPOINT ["/app"]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'WORKDIR (relative to the previous one)',
    lines: 'WORKDIR /a\nWORKDIR b/../c',
    config: { WorkingDir: '/a/c' },
    history: { created_by: 'WORKDIR /a/c', comment: 'buildkit.dockerfile.v0' },
  },
  {
    name: 'USER',
    lines: 'ARG U=app\nUSER $' + '{U}:staff',
    config: { User: 'app:staff' },
    history: { created_by: 'USER app:staff', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'EXPOSE',
    lines: 'ARG P=8080\nEXPOSE 80 $P/udp 9000-9001',
    config: { ExposedPorts: { '80/tcp': {}, '8080/udp': {}, '9000/tcp': {}, '9001/tcp': {} } },
    // The instruction parser sorts EXPOSE words before expansion, as BuildKit's does.
    history: {
      created_by: 'EXPOSE [8080/udp 80/tcp 9000/tcp 9001/tcp]',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'VOLUME',
    lines: 'VOLUME ["/data", "/logs"]',
    config: { Volumes: { '/data': {}, '/logs': {} } },
    history: { created_by: 'VOLUME [/data /logs]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'STOPSIGNAL',
    lines: 'STOPSIGNAL SIGQUIT',
    config: { StopSignal: 'SIGQUIT' },
    history: { created_by: 'STOPSIGNAL SIGQUIT', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'SHELL',
    lines: 'SHELL ["/bin/bash", "-c"]',
    config: { Shell: ['/bin/bash', '-c'] },
    history: { created_by: 'SHELL [/bin/bash -c]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'HEALTHCHECK',
    lines: 'HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/',
    config: {
      Healthcheck: {
        Test: ['CMD-SHELL', 'curl -f http://localhost/'],
        Interval: 30e9,
        Timeout: 90e9,
        Retries: 3,
      },
    },
    history: {
      created_by:
        'HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:1m30s StartPeriod:0s StartInterval:0s Retries:3}',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'ONBUILD',
    lines: 'ONBUILD RUN make',
    config: { OnBuild: ['RUN make'] },
    history: { created_by: '/bin/sh -c #(nop) ADD file:base in /' },
  },
  {
    name: 'MAINTAINER',
    lines: 'MAINTAINER Jane <jane@example.com>',
    config: {},
    author: 'Jane <jane@example.com>',
    history: {
      created_by: 'MAINTAINER Jane <jane@example.com>',
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    },
  },
  {
    name: 'ARG',
    lines: 'ARG A=1 B',
    config: {},
    history: { created_by: 'ARG A=1 B', comment: 'buildkit.dockerfile.v0', empty_layer: true },
  },
  {
    name: 'RUN adds a layer',
    lines: 'RUN make',
    config: {},
    history: { created_by: 'RUN /bin/sh -c make # buildkit', comment: 'buildkit.dockerfile.v0' },
  },
  {
    name: 'COPY adds a layer',
    lines: 'COPY --chown=app a b /dst/',
    config: {},
    history: { created_by: 'COPY --chown=app a b /dst/ # buildkit', comment: 'buildkit.dockerfile.v0' },
  },
];

describe('config instructions', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await convert(`FROM alpine\n${c.lines}\n`);
      for (const [k, v] of Object.entries(c.config))
        assert.deepEqual(r.config.config?.[k as keyof ContainerConfig], v, k);
      assert.deepEqual(r.config.history?.at(-1), c.history);
      assert.equal(
        r.config.history?.[0].created_by,
        '/bin/sh -c #(nop) ADD file:base in /',
        'base history is kept',
      );
      if (c.author) assert.equal(r.config.author, c.author);
    });
  }

  it('--label adds labels to the result; the platform comes from the target', async () => {
    const r = await convert('FROM alpine\nLABEL a=1\n', { labels: { b: '2', a: 'cli' } });
    assert.deepEqual(r.config.config?.Labels, { a: 'cli', b: '2' });
    assert.equal(r.config.os, 'linux');
    assert.equal(r.config.created, undefined);
  });

  it('WORKDIR makes the directory as the current user', async () => {
    const r = await convert('FROM alpine\nUSER app\nWORKDIR /home/app\nWORKDIR /\n');
    const mk = r.definition.vertices.find((v) => v.op.type === 'file');
    assert.ok(mk?.op.type === 'file');
    assert.deepEqual(mk.op.actions, [
      { action: 'mkdir', path: '/home/app', mode: 0o755, makeParents: true, chown: { user: 'app' } },
    ]);
    assert.equal(
      r.definition.vertices.filter((v) => v.op.type === 'file').length,
      1,
      'WORKDIR / makes nothing',
    );
    assert.equal(r.config.history?.at(-1)?.empty_layer, true);
  });
});
