import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, type KilnError } from '../../../errors/errors.ts';
import {
  deserializeDefinition,
  type ExecOp,
  type FileOp,
  serializeDefinition,
} from '../../../graph/index.ts';
import { AMD64, ARM64, byDescription, convert, imageConfig, MemoryResolver, one } from './testing.ts';

const digests = (r: { definition: { vertices: readonly { digest: string }[] } }) =>
  new Set(r.definition.vertices.map((v) => v.digest));

describe('stages and deduplication', () => {
  it('identical stages share vertices', async () => {
    const r = await convert(
      'FROM alpine AS a\nRUN echo hi\nFROM alpine AS b\nRUN echo hi\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n',
    );
    const runs = byDescription(r, 'RUN echo hi');
    assert.equal(runs.length, 1, 'one RUN vertex for both stages');
    assert.equal(
      r.definition.vertices.filter((v) => v.op.type === 'source' && v.op.kind === 'image').length,
      1,
    );
    const [copyA, copyB] = [one(r, 'COPY --from=a /x /a'), one(r, 'COPY --from=b /x /b')];
    assert.equal(
      copyB.inputs.find((i) => i.op.type === 'exec')?.digest,
      copyA.inputs.find((i) => i.op.type === 'exec')?.digest,
    );
  });

  it('the digest ignores descriptions and locations', async () => {
    const a = await convert('FROM alpine\nRUN make\n');
    const b = await convert('# a comment\n\nFROM alpine AS named\n\nRUN make\n');
    assert.equal(a.root?.digest, b.root?.digest);
  });

  it('--target builds the named stage and prunes what it does not reach', async () => {
    const src =
      'FROM alpine AS base\nRUN base\nFROM base AS test\nRUN test\nFROM busybox AS other\nRUN other\nFROM base\nRUN final\n';
    const resolver = new MemoryResolver();
    const r = await convert(src, { target: 'test', resolver });
    const descs = r.definition.vertices.map((v) => v.meta.description ?? '');
    assert.ok(descs.some((d) => d.endsWith('RUN test')));
    assert.ok(descs.some((d) => d.endsWith('RUN base')));
    assert.ok(!descs.some((d) => d.endsWith('RUN other') || d.endsWith('RUN final')));
    assert.deepEqual(
      resolver.calls.map((c) => c.ref),
      ['docker.io/library/alpine:latest'],
      'unreachable bases are not resolved',
    );
    assert.equal(r.target, 'test');
    const all = await convert(src);
    assert.ok(all.definition.vertices.some((v) => v.meta.description?.endsWith('RUN final')));
    assert.ok(!all.definition.vertices.some((v) => v.meta.description?.endsWith('RUN other')));
  });

  it('an unknown --target is an error naming the stages', async () => {
    await assert.rejects(
      convert('FROM alpine AS one\nFROM alpine AS two\n', { target: 'three' }),
      (e: KilnError) => {
        assert.equal(e.code, 'DOCKERFILE_TARGET_NOT_FOUND');
        assert.match(e.hint ?? '', /one, two/);
        return true;
      },
    );
  });

  it('descriptions number the steps per stage', async () => {
    const r = await convert(
      'FROM alpine AS build\nWORKDIR /src\nRUN make\nFROM scratch\nCOPY --from=build /out /\n',
    );
    assert.ok(one(r, 'RUN make').meta.description === '[build 3/3] RUN make');
    assert.equal(one(r, 'WORKDIR /src').meta.description, '[build 2/3] WORKDIR /src');
    assert.equal(
      one(r, 'COPY --from=build /out /').meta.description,
      '[stage-1 1/1] COPY --from=build /out /',
    );
    assert.match(
      r.definition.vertices[0].meta.description ?? '',
      /^\[build 1\/3\] FROM docker.io\/library\/alpine:latest@sha256:b+$/,
    );
  });

  it('FROM scratch with only config has no vertices', async () => {
    const r = await convert('FROM scratch\nENV A=1\nCMD ["/app"]\n');
    assert.equal(r.root, null);
    assert.equal(r.definition.vertices.length, 0);
    assert.deepEqual(r.config.config?.Env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=1',
    ]);
  });

  it('the definition survives a JSON round trip', async () => {
    const r = await convert(
      'FROM alpine AS a\nRUN --mount=type=cache,target=/root/.cache make\nFROM alpine\nCOPY --from=a / /\n',
    );
    const back = deserializeDefinition(JSON.parse(JSON.stringify(serializeDefinition(r.definition))));
    assert.equal(back.results.default.root?.digest, r.root?.digest);
    assert.deepEqual(back.results.default.config, r.config);
  });
});

describe('build args', () => {
  const src = [
    'ARG BASE=alpine',
    'FROM $BASE AS a',
    'RUN echo before',
    'ARG V=1',
    'RUN echo a',
    'COPY x /x',
    'FROM alpine AS b',
    'RUN echo b',
    'FROM alpine',
    'COPY --from=a /x /a',
    'COPY --from=b /x /b',
    '',
  ].join('\n');

  it('changing a build arg changes exactly the vertices that see it and their descendants', async () => {
    const one1 = await convert(src, { buildArgs: { V: '1' } });
    const two = await convert(src, { buildArgs: { V: '2' } });
    const changed = (r: typeof one1, other: typeof one1) =>
      r.definition.vertices
        .filter((v) => !digests(other).has(v.digest))
        .map((v) => (v.meta.description ?? '').replace(/^\[[^\]]*\] /, ''));
    assert.deepEqual(
      changed(two, one1).sort(),
      ['COPY --from=a /x /a', 'COPY --from=b /x /b', 'COPY x /x', 'RUN echo a'].sort(),
    );
    const runA = one(two, 'RUN echo a').op as ExecOp;
    assert.ok(runA.env.includes('V=2'));
    assert.ok(!(one(two, 'RUN echo before').op as ExecOp).env.some((e) => e.startsWith('V=')));
    assert.ok(
      !(two.config.config?.Env ?? []).some((e) => e.startsWith('V=')),
      'ARG values stay out of the image config',
    );
  });

  it('a meta ARG picks the base image', async () => {
    const resolver = new MemoryResolver();
    await convert(src, { buildArgs: { BASE: 'busybox:1.36' }, resolver });
    assert.ok(resolver.calls.some((c) => c.ref === 'docker.io/library/busybox:1.36'));
  });

  it('warns about build args no ARG consumed', async () => {
    const r = await convert(src, { buildArgs: { V: '1', NOPE: 'x', http_proxy: 'p', ZZZ: '' } });
    assert.deepEqual(
      r.warnings.filter((w) => w.rule === 'UnusedBuildArg').map((w) => w.message),
      ['one or more build-args [NOPE ZZZ] were not consumed'],
    );
  });

  // ARG scoping: each case observes `$X` through a LABEL in the final stage.
  const scoping: {
    name: string;
    dockerfile: string;
    buildArgs?: Record<string, string>;
    expected: string;
  }[] = [
    {
      name: 'meta ARG is not visible in a stage without re-declaration',
      dockerfile: 'ARG X=meta\nFROM alpine\nLABEL v="[$X]"',
      expected: '[]',
    },
    {
      name: 'ARG without default inherits the meta value',
      dockerfile: 'ARG X=meta\nFROM alpine\nARG X\nLABEL v="[$X]"',
      expected: '[meta]',
    },
    {
      name: 'stage default overrides the meta value',
      dockerfile: 'ARG X=meta\nFROM alpine\nARG X=stage\nLABEL v="[$X]"',
      expected: '[stage]',
    },
    {
      name: 'build arg overrides every default',
      dockerfile: 'ARG X=meta\nFROM alpine\nARG X=stage\nLABEL v="[$X]"',
      buildArgs: { X: 'cli' },
      expected: '[cli]',
    },
    {
      name: 'build arg fills a meta ARG inherited by the stage',
      dockerfile: 'ARG X\nFROM alpine\nARG X\nLABEL v="[$X]"',
      buildArgs: { X: 'cli' },
      expected: '[cli]',
    },
    {
      name: 'ARG is not visible before its declaration',
      dockerfile: 'FROM alpine\nLABEL v="[$X]"\nARG X=late',
      expected: '[]',
    },
    {
      name: 'ARG scope ends with the stage',
      dockerfile: 'FROM alpine AS a\nARG X=1\nFROM alpine\nLABEL v="[$X]"',
      expected: '[]',
    },
    {
      name: 'a stage based on a stage inherits its ARGs',
      dockerfile: 'FROM alpine AS a\nARG X=1\nFROM a\nLABEL v="[$X]"',
      expected: '[1]',
    },
    {
      name: 'ENV wins over ARG of the same name',
      dockerfile: 'FROM alpine\nARG X=arg\nENV X=env\nLABEL v="[$X]"',
      expected: '[env]',
    },
    {
      name: 'ARG default expands earlier ARGs and ENV',
      dockerfile: 'FROM alpine\nENV A=a\nARG B=b\nARG X=$' + '{A}-$' + '{B}\nLABEL v="[$X]"',
      expected: '[a-b]',
    },
    {
      name: 'meta ARG default expands earlier meta ARGs',
      dockerfile: 'ARG A=x\nARG X=$' + '{A}y\nFROM alpine\nARG X\nLABEL v="[$X]"',
      expected: '[xy]',
    },
    {
      name: 'automatic platform args need a declaration',
      dockerfile: 'FROM alpine\nLABEL v="[$TARGETARCH]"',
      expected: '[]',
    },
    {
      name: 'declared platform args carry the target',
      dockerfile: 'FROM alpine\nARG TARGETPLATFORM\nARG TARGETARCH\nLABEL v="[$TARGETPLATFORM $TARGETARCH]"',
      expected: '[linux/arm64 arm64]',
    },
    {
      name: 'build platform args',
      dockerfile: 'FROM alpine\nARG BUILDPLATFORM\nARG BUILDOS\nLABEL v="[$BUILDPLATFORM $BUILDOS]"',
      expected: '[linux/amd64 linux]',
    },
    {
      name: 'TARGETSTAGE names the target',
      dockerfile: 'FROM alpine AS final\nARG TARGETSTAGE\nLABEL v="[$TARGETSTAGE]"',
      expected: '[final]',
    },
  ];
  for (const c of scoping) {
    it(`ARG scoping: ${c.name}`, async () => {
      const r = await convert(`${c.dockerfile}\n`, {
        buildArgs: c.buildArgs ?? {},
        platform: ARM64,
        buildPlatform: AMD64,
      });
      assert.equal(r.config.config?.Labels?.v, c.expected);
    });
  }
});

describe('warnings', () => {
  it('undefined variables and shell-form CMD, with locations', async () => {
    const r = await convert(
      'FROM alpine\nENV MY_VAR=1\nARG DECLARED\nCOPY $DECLARED $MY_VAL /\nCMD run $NOPE\nENTRYPOINT ["ok"]\n',
      { file: 'W.Dockerfile' },
    );
    const got = r.warnings.map((w) => [w.rule, w.message, w.location?.startLine]);
    assert.deepEqual(got, [
      ['UndefinedVar', "Usage of undefined variable '$MY_VAL' (did you mean $MY_VAR?)", 4],
      [
        'JSONArgsRecommended',
        'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
        5,
      ],
    ]);
    assert.equal(r.warnings[0].location?.file, 'W.Dockerfile');
  });
});

describe('FROM warnings', () => {
  it('names FROM variables no meta ARG declares', async () => {
    const r = await convert('ARG VERSION=3\nFROM alpine:$VERSON\nFROM --platform=$BUILDPLATFORM alpine\n');
    assert.deepEqual(
      r.warnings.map((w) => [w.rule, w.message, w.location?.startLine]),
      [
        // `alpine:` is no image name: BuildKit reports both, the default-ARG check first.
        [
          'InvalidDefaultArgInFrom',
          'Default value for ARG alpine:$VERSON results in empty or invalid base image name',
          2,
        ],
        ['UndefinedArgInFrom', "FROM argument 'VERSON' is not declared (did you mean VERSION?)", 2],
      ],
    );
  });
});

describe('platforms', () => {
  it('exec ops run on the stage platform; FROM --platform=$BUILDPLATFORM picks the build platform', async () => {
    const resolver = new MemoryResolver();
    const r = await convert(
      'FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM alpine\nCOPY --from=build /app /app\nRUN ls\n',
      {
        platform: ARM64,
        buildPlatform: AMD64,
        resolver,
      },
    );
    assert.deepEqual((one(r, 'RUN go build').op as ExecOp).platform, AMD64);
    assert.deepEqual((one(r, 'RUN ls').op as ExecOp).platform, ARM64);
    assert.deepEqual(resolver.calls.map((c) => [c.ref, c.platform.architecture]).sort(), [
      ['docker.io/library/alpine:latest', 'arm64'],
      ['docker.io/library/golang:latest', 'amd64'],
    ]);
    assert.equal(r.config.architecture, 'arm64');
  });

  it('an empty --platform expression is an error at the FROM line', async () => {
    await assert.rejects(convert('FROM alpine\nFROM --platform=$NOPE alpine\n'), (e: KilnError) => {
      assert.equal(e.code, 'DOCKERFILE_INVALID_PLATFORM');
      assert.equal(e.location?.startLine, 2);
      return true;
    });
  });
});

describe('base image config', () => {
  it('sets PATH when the base image has none, and keeps it otherwise', async () => {
    const resolver = new MemoryResolver({
      'docker.io/library/nopath:latest': imageConfig({ config: { Env: ['A=1'] } }),
    });
    const r = await convert('FROM nopath\nRUN env\n', { resolver });
    assert.deepEqual((one(r, 'RUN env').op as ExecOp).env, [
      'A=1',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
    const withPath = new MemoryResolver({
      'docker.io/library/p:latest': imageConfig({ config: { Env: ['PATH=/opt/bin'] } }),
    });
    const r2 = await convert('FROM p\nRUN env\n', { resolver: withPath });
    assert.deepEqual((one(r2, 'RUN env').op as ExecOp).env, ['PATH=/opt/bin']);
  });

  it('RUN inherits the base WORKDIR and USER', async () => {
    const resolver = new MemoryResolver({
      'docker.io/library/app:latest': imageConfig({ config: { WorkingDir: '/srv', User: 'app' } }),
    });
    const r = await convert('FROM app\nRUN pwd\n', { resolver });
    const op = one(r, 'RUN pwd').op as ExecOp;
    assert.equal(op.cwd, '/srv');
    assert.equal(op.user, 'app');
  });

  it('ONBUILD triggers of a base image run first and are not inherited', async () => {
    const resolver = new MemoryResolver({
      'docker.io/library/onb:latest': imageConfig({
        config: { OnBuild: ['RUN echo triggered', 'COPY . /app'] },
      }),
    });
    const r = await convert('FROM onb\nRUN echo mine\n', { resolver });
    const trig = one(r, 'RUN echo triggered');
    assert.equal(trig.meta.description, '[2/4] ONBUILD RUN echo triggered');
    const copy = one(r, 'COPY . /app');
    assert.equal(one(r, 'RUN echo mine').inputs[0].digest, copy.digest);
    assert.equal(r.config.config?.OnBuild ?? null, null);
  });

  it('an image used only by COPY --from runs no triggers', async () => {
    const resolver = new MemoryResolver({
      'docker.io/library/onb:latest': imageConfig({ config: { OnBuild: ['RUN echo triggered'] } }),
    });
    const r = await convert('FROM alpine\nCOPY --from=onb /x /x\n', { resolver });
    assert.equal(byDescription(r, 'RUN echo triggered').length, 0);
  });

  it('ONBUILD of a base stage runs in the stage built on it, and may COPY --from a stage', async () => {
    const r = await convert(
      'FROM alpine AS tools\nRUN make tools\nFROM alpine AS base\nONBUILD COPY --from=tools /t /t\nFROM base\nRUN use\n',
    );
    assert.ok(byDescription(r, 'RUN make tools').length === 1, 'the ONBUILD dependency became reachable');
    assert.equal(one(r, 'RUN use').inputs[0].digest, one(r, 'COPY --from=tools /t /t').digest);
    const base = await convert('FROM alpine AS base\nONBUILD RUN x\n', {});
    assert.deepEqual(base.config.config?.OnBuild, ['RUN x']);
  });
});

describe('named contexts (--build-context)', () => {
  it('an image context replaces a stage of the same name, whose steps do not run', async () => {
    const resolver = new MemoryResolver();
    const r = await convert('FROM alpine AS base\nRUN x\nFROM base\nRUN y\n', {
      resolver,
      namedContexts: { base: 'docker-image://busybox:1.36' },
    });
    assert.equal(byDescription(r, 'RUN x').length, 0);
    assert.deepEqual(
      resolver.calls.map((c) => c.ref),
      ['docker.io/library/busybox:1.36'],
    );
    const src = one(r, 'RUN y').inputs[0];
    assert.ok(
      src.op.type === 'source' &&
        src.op.kind === 'image' &&
        src.op.ref.startsWith('docker.io/library/busybox:1.36@'),
    );
  });

  it('a directory context feeds COPY --from and FROM by name', async () => {
    const r = await convert('FROM alpine\nCOPY --from=assets /logo.png /srv/\n', {
      namedContexts: { assets: '/home/me/assets' },
    });
    const copy = one(r, 'COPY --from=assets /logo.png /srv/');
    const local = copy.inputs.find((i) => i.op.type === 'source' && i.op.kind === 'local');
    assert.ok(copy.op.type === 'file' && copy.op.actions[0].action === 'copy');
    assert.equal(copy.inputs[copy.op.actions[0].src!], local);
    assert.deepEqual(local?.op, {
      type: 'source',
      kind: 'local',
      name: 'assets',
      includePatterns: [],
      excludePatterns: [],
      followPaths: [],
    });
    const img = await convert('FROM alpine:3.19\nRUN x\n', {
      namedContexts: { 'alpine:3.19': 'docker-image://alpine@sha256:' + 'd'.repeat(64) },
    });
    const base = one(img, 'RUN x').inputs[0];
    assert.ok(base.op.type === 'source' && base.op.kind === 'image' && base.op.ref.includes('@sha256:ddd'));
  });
});

describe('COPY and ADD', () => {
  it('COPY --from a stage name, a stage index and an image', async () => {
    const resolver = new MemoryResolver();
    const r = await convert(
      'FROM alpine AS a\nRUN a\nFROM alpine\nCOPY --from=a /1 /1\nCOPY --from=0 /2 /2\nCOPY --from=nginx:1.25 /3 /3\n',
      { resolver },
    );
    const runA = one(r, 'RUN a');
    assert.equal((one(r, 'COPY --from=a /1 /1').op as FileOp).actions[0].action, 'copy');
    assert.ok(one(r, 'COPY --from=a /1 /1').inputs.some((i) => i.digest === runA.digest));
    assert.ok(one(r, 'COPY --from=0 /2 /2').inputs.some((i) => i.digest === runA.digest));
    const fromImage = one(r, 'COPY --from=nginx:1.25 /3 /3').inputs.find((i) => i.op.type === 'source');
    assert.equal(
      fromImage?.op.type === 'source' && fromImage.op.kind === 'image' && fromImage.op.ref,
      `docker.io/library/nginx:1.25@sha256:${'b'.repeat(64)}`,
    );
  });

  it('COPY --from=scratch copies from an empty filesystem', async () => {
    const r = await convert('FROM alpine\nCOPY --from=scratch /x /x\n');
    const a = (one(r, 'COPY --from=scratch /x /x').op as FileOp).actions[0];
    assert.ok(a.action === 'copy' && a.src === null);
  });

  it('COPY from the context: dest relative to WORKDIR, chown/chmod, context followPaths and dockerignore', async () => {
    const r = await convert(
      'FROM alpine\nWORKDIR /app\nCOPY --chown=1000:1000 --chmod=640 src/ ./\nCOPY go.mod go.sum .\n',
      { dockerignore: ['*.log'] },
    );
    const op = one(r, 'COPY --chown=1000:1000 --chmod=640 src/ ./').op as FileOp;
    const a = op.actions[0];
    assert.ok(a.action === 'copy');
    assert.deepEqual(
      [a.srcPaths, a.dest, a.chown, a.chmod, a.unpack],
      [['/src'], '/app/', { user: '1000', group: '1000' }, '640', false],
    );
    const ctx = r.definition.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'local');
    assert.ok(ctx?.op.type === 'source' && ctx.op.kind === 'local');
    assert.deepEqual(ctx.op.followPaths, ['go.mod', 'go.sum', 'src']);
    assert.deepEqual(ctx.op.excludePatterns, ['*.log']);
    const two = one(r, 'COPY go.mod go.sum .').op as FileOp;
    assert.equal(two.actions.length, 2);
  });

  it('COPY --link copies onto scratch and merges', async () => {
    const r = await convert('FROM alpine\nCOPY --link a /a\n');
    assert.equal(r.root?.op.type, 'merge');
    const layer = r.root?.inputs.find((i) => i.op.type === 'file');
    assert.ok(layer);
    assert.equal((layer.op as FileOp).base, null);
  });

  it('COPY heredocs become files made in a scratch file op', async () => {
    const r = await convert('FROM alpine\nENV NAME=kiln\nCOPY <<EOF /greeting\nhello $NAME\nEOF\n');
    const doc = r.definition.vertices.find(
      (v) => v.op.type === 'file' && v.op.actions[0].action === 'mkfile',
    );
    assert.ok(doc && doc.op.type === 'file' && doc.op.actions[0].action === 'mkfile');
    assert.equal(doc.op.actions[0].data, 'hello kiln\n');
    assert.deepEqual(r.config.history?.at(-1)?.created_by, 'COPY <<EOF /greeting # buildkit');
  });

  it('ADD of URLs and git repositories', async () => {
    const sum = `sha256:${'c'.repeat(64)}`;
    const r = await convert(
      `FROM alpine\nADD --checksum=${sum} https://example.com/dl/tool.tgz /opt/\nADD --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0:docs /src\n`,
    );
    const http = r.definition.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'http');
    assert.deepEqual(http?.op, {
      type: 'source',
      kind: 'http',
      url: 'https://example.com/dl/tool.tgz',
      checksum: sum,
      filename: 'tool.tgz',
    });
    const git = r.definition.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'git');
    assert.deepEqual(git?.op, {
      type: 'source',
      kind: 'git',
      url: 'https://github.com/moby/buildkit.git',
      ref: 'v0.13.0',
      subdir: 'docs',
      keepGitDir: true,
    });
    const add = one(r, 'ADD --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0:docs /src')
      .op as FileOp;
    assert.ok(add.actions[0].action === 'copy' && add.actions[0].srcPaths[0] === '/');
  });

  it('ADD unpacks local archives, COPY does not; URLs are rejected by COPY', async () => {
    const r = await convert('FROM alpine\nADD a.tar /x/\nCOPY b.tar /y/\n');
    const add = (one(r, 'ADD a.tar /x/').op as FileOp).actions[0];
    const copy = (one(r, 'COPY b.tar /y/').op as FileOp).actions[0];
    assert.ok(add.action === 'copy' && add.unpack && copy.action === 'copy' && !copy.unpack);
    await assert.rejects(convert('FROM alpine\n\nCOPY https://example.com/x /x\n'), (e: KilnError) => {
      assert.equal(e.code, 'DOCKERFILE_INVALID_COPY');
      assert.equal(e.location?.startLine, 3);
      return true;
    });
  });
});

describe('RUN', () => {
  it('shell form uses SHELL; env, user and cwd come from the stage', async () => {
    const r = await convert(
      'FROM alpine\nSHELL ["/bin/bash", "-eo", "pipefail", "-c"]\nUSER nobody\nWORKDIR /w\nENV A=1\nRUN echo $A\nRUN ["/bin/true"]\n',
    );
    const op = one(r, 'RUN echo 1').op as ExecOp; // descriptions show expanded variables
    assert.deepEqual(op.args, ['/bin/bash', '-eo', 'pipefail', '-c', 'echo $A']);
    assert.equal(op.user, 'nobody');
    assert.equal(op.cwd, '/w');
    assert.ok(op.env.includes('A=1'));
    assert.deepEqual((one(r, 'RUN ["/bin/true"]').op as ExecOp).args, ['/bin/true']);
  });

  it('mounts, network and security', async () => {
    const r = await convert(
      'FROM alpine AS src\nFROM alpine\nWORKDIR /w\nRUN --mount=type=cache,target=/root/.cache,id=go,sharing=locked --mount=type=bind,from=src,source=/etc,target=etc --mount=type=secret,id=tok --mount=type=tmpfs,target=/tmp --network=none --security=insecure make\n',
    );
    const v = r.definition.vertices.find((x) => x.op.type === 'exec')!;
    const op = v.op as ExecOp;
    assert.equal(op.network, 'none');
    assert.equal(op.security, 'insecure');
    const byTarget = Object.fromEntries(op.mounts.map((m) => [m.target, m]));
    assert.equal(byTarget['/root/.cache'].type === 'cache' && byTarget['/root/.cache'].sharing, 'locked');
    const bind = byTarget['/w/etc'];
    assert.ok(bind.type === 'bind' && bind.readonly && bind.selector === '/etc' && bind.input !== null);
    assert.equal(v.inputs[bind.input!].op.type, 'source');
    assert.equal(byTarget['/run/secrets/tok'].type, 'secret');
    assert.equal(byTarget['/tmp'].type, 'tmpfs');
  });

  it('mount flags are expanded with the stage environment', async () => {
    const r = await convert(
      'FROM alpine\nARG DIR=/cache\nENV ID=gomod\nRUN --mount=type=cache,target=$DIR,id=$ID go build\n',
    );
    const op = r.definition.vertices.find((v) => v.op.type === 'exec')?.op as ExecOp;
    assert.deepEqual(
      op.mounts.map((m) => [m.type, m.target, m.type === 'cache' && m.id]),
      [['cache', '/cache', 'gomod']],
    );
  });

  it('a heredoc with a shebang runs as a mounted script; a plain one as the shell command', async () => {
    const r = await convert(
      'FROM alpine\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN <<EOT\necho hi\nEOT\n',
    );
    const [script, plain] = r.definition.vertices
      .filter((v) => v.op.type === 'exec')
      .map((v) => v.op as ExecOp);
    assert.deepEqual(script.args, ['/bin/sh', '-c', '/dev/pipes/EOF']);
    assert.ok(script.mounts.some((m) => m.type === 'bind' && m.target === '/dev/pipes'));
    assert.deepEqual(plain.args, ['/bin/sh', '-c', 'echo hi\n']);
    assert.match(one(r, 'RUN <<EOF (#!/usr/bin/env python3...)').meta.description ?? '', /^\[2\/3\] /);
    assert.equal(one(r, 'RUN <<EOT (echo hi)').meta.location?.startLine, 6);
  });

  it('proxy build args reach RUN through metadata, without changing digests', async () => {
    const plain = await convert('FROM alpine\nRUN apk add curl\n');
    const proxied = await convert('FROM alpine\nRUN apk add curl\n', {
      buildArgs: { HTTPS_PROXY: 'http://proxy:3128' },
    });
    assert.equal(proxied.root?.digest, plain.root?.digest);
    assert.deepEqual(proxied.root?.meta.proxyEnv, { HTTPS_PROXY: 'http://proxy:3128' });
    assert.deepEqual(
      proxied.warnings.filter((w) => w.rule === 'UnusedBuildArg'),
      [],
    );
  });

  it('SOURCE_DATE_EPOCH dates history and copied files', async () => {
    const r = await convert('FROM alpine\nWORKDIR /w\nCOPY a .\nRUN make\n', {
      buildArgs: { SOURCE_DATE_EPOCH: '1700000000' },
    });
    const ours = r.config.history!.slice(1);
    assert.ok(ours.every((h) => h.created === '2023-11-14T22:13:20Z'));
    assert.equal(r.config.history![0].created, undefined, 'base history is left alone');
    assert.equal(r.sourceDateEpoch, 1700000000);
    const copy = (one(r, 'COPY a .').op as FileOp).actions[0];
    assert.ok(copy.action === 'copy' && copy.createdTime === 1700000000);
    await assert.rejects(convert('FROM alpine\n', { buildArgs: { SOURCE_DATE_EPOCH: 'yesterday' } }), (e) =>
      hasCode(e, 'DOCKERFILE_INVALID_EPOCH'),
    );
  });

  it('history records the build args in scope', async () => {
    const r = await convert('FROM alpine\nARG A=1\nARG B\nRUN make\n', { buildArgs: { B: '2' } });
    const h = r.config.history!.at(-1)!;
    assert.equal(h.created_by, 'RUN |2 A=1 B=2 /bin/sh -c make # buildkit');
    assert.equal(h.empty_layer, undefined);
  });
});

describe('errors carry locations', () => {
  const cases: { name: string; dockerfile: string; code: string; line: number; opts?: object }[] = [
    {
      name: 'COPY --from a later stage',
      dockerfile: 'FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\n',
      code: 'DOCKERFILE_COPY_ORDER',
      line: 2,
      opts: { target: 'a' },
    },
    {
      name: 'COPY --from with a variable',
      dockerfile: 'FROM alpine\nARG S=a\nCOPY --from=$S /x /x\n',
      code: 'DOCKERFILE_FROM_VARIABLE',
      line: 3,
    },
    {
      name: 'bad --chmod',
      dockerfile: 'FROM alpine\n\nCOPY --chmod=999 a /a\n',
      code: 'DOCKERFILE_INVALID_COPY',
      line: 3,
    },
    { name: 'blank base name', dockerfile: 'ARG IMG\nFROM $IMG\n', code: 'DOCKERFILE_BLANK_BASE', line: 2 },
    {
      name: 'stage index out of range',
      dockerfile: 'FROM alpine\nCOPY --from=4 /x /x\n',
      code: 'DOCKERFILE_INVALID_STAGE_INDEX',
      line: 2,
    },
    {
      name: 'circular COPY --from',
      dockerfile: 'FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nCOPY --from=a /y /y\n',
      code: 'DOCKERFILE_CIRCULAR_DEPENDENCY',
      line: 1,
    },
    {
      name: 'invalid STOPSIGNAL',
      dockerfile: 'FROM alpine\nSTOPSIGNAL SIGNOPE\n',
      code: 'DOCKERFILE_INVALID_INSTRUCTION',
      line: 2,
    },
    {
      name: 'bad EXPOSE',
      dockerfile: 'FROM alpine\nEXPOSE 80/tcp\nEXPOSE 99999\n',
      code: 'DOCKERFILE_INVALID_PORT',
      line: 3,
    },
    {
      name: 'bad expansion',
      dockerfile: 'FROM alpine\nENV A=$' + '{B:?required}\n',
      code: 'DOCKERFILE_EXPAND',
      line: 2,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await assert.rejects(
        convert(c.dockerfile, { file: 'Dockerfile.test', ...(c.opts ?? {}) }),
        (e: unknown) => {
          assert.ok(
            hasCode(e, c.code),
            `expected ${c.code}, got ${(e as KilnError).code}: ${(e as Error).message}`,
          );
          assert.equal((e as KilnError).location?.startLine, c.line);
          assert.equal((e as KilnError).location?.file, 'Dockerfile.test');
          return true;
        },
      );
    });
  }

  it('a resolver failure points at the FROM line', async () => {
    const resolver = { resolveImageConfig: async () => Promise.reject(new Error('manifest unknown')) };
    await assert.rejects(convert('FROM alpine\nFROM nope/missing\n', { resolver }), (e: KilnError) => {
      assert.equal(e.code, 'BASE_IMAGE_RESOLVE');
      assert.equal(e.location?.startLine, 2);
      return true;
    });
  });
});
