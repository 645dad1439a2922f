/**
 * BuildKit conformance for the typed instruction layer: the transcribed instructions/*_test.go
 * cases (parse, heredoc, bflag, support, rundevice) from shared/testdata, plus kiln's own
 * checks of mounts, flags and stages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hasCode, type KilnError } from '../../../errors/errors.ts';
import { sharedTestdata } from '../../../testing/shared-testdata.ts';
import { type Node, newNode } from '../parser/ast.ts';
import { parseDockerfile } from '../parser/parser.ts';
import { BFlags } from './bflag.ts';
import { handleJSONArgs, parseGoDuration, parseInstruction, parseOptInterval, parseStages } from './parse.ts';
import { parseDevice, parseMount } from './runmount.ts';
import type { CopyCommand, RunCommand } from './types.ts';

const GO = sharedTestdata('buildkit-go-tests');
// biome-ignore lint/suspicious/noExplicitAny: transcribed JSON cases have many shapes
type Case = Record<string, any>;
const load = (f: string): Case[] => JSON.parse(readFileSync(`${GO}/${f}`, 'utf8'));
const stripPrefix = (m: string) => m.replace(/^dockerfile parse error on line \d+: /, '');

function first(dockerfile: string) {
  return parseInstruction(parseDockerfile(dockerfile).ast.children[0]!);
}

function expectParseError(fn: () => unknown, c: Case) {
  assert.throws(fn, (e: KilnError) => {
    assert.ok(hasCode(e, 'DOCKERFILE_PARSE'), String(e));
    assert.ok(e.location && e.location.startLine >= 1);
    const msg = stripPrefix(e.message);
    const want = c.expectedError ?? c.expectedErrorContains;
    if (want !== undefined) {
      if (c.errorMatch === 'exact') assert.equal(msg, want);
      else assert.ok(msg.includes(want), `${msg} ⊇ ${want}`);
    }
    return true;
  });
}

function checkExpected(inst: Case, expected: Case) {
  const typeToKind: Record<string, string> = {
    CopyCommand: 'COPY',
    RunCommand: 'RUN',
    HealthCheckCommand: 'HEALTHCHECK',
  };
  assert.equal(inst.kind, typeToKind[expected.type]);
  if (expected.sourcesAndDest) {
    const sd = (inst as CopyCommand).sourcesAndDest;
    const e = expected.sourcesAndDest;
    assert.equal(sd.destPath, e.destPath);
    assert.deepEqual(sd.sourcePaths.length === 0 ? null : sd.sourcePaths, e.sourcePaths);
    assert.deepEqual(sd.sourceContents.length === 0 ? null : sd.sourceContents, e.sourceContents);
  }
  if ('prependShell' in expected) assert.equal((inst as RunCommand).prependShell, expected.prependShell);
  if ('cmdLine' in expected) assert.deepEqual((inst as RunCommand).cmdLine, expected.cmdLine);
  if ('files' in expected) {
    const files = (inst as RunCommand).files;
    assert.deepEqual(files.length === 0 ? null : files, expected.files);
  }
  if ('flagsUsed' in expected) assert.deepEqual(inst.flagsUsed, expected.flagsUsed);
  if ('healthTest' in expected) assert.deepEqual(inst.health.test, expected.healthTest);
}

function getPath(obj: Case, path: string): Case {
  let cur: Case = obj;
  for (const part of path.split('.')) {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(part)!;
    const key = m[1] === 'commands' ? 'instructions' : m[1]!;
    cur = cur[key];
    if (m[2] !== undefined) cur = cur[Number(m[2])];
  }
  return cur;
}

for (const file of ['instructions_parse_test.json', 'instructions_parse_heredoc_test.json']) {
  describe(file.replace('.json', '.go'), () => {
    for (const c of load(file)) {
      it(c.name, () => {
        switch (c.kind) {
          case 'parseInstruction':
            if (c.expectError) expectParseError(() => first(c.dockerfile), c);
            else checkExpected(first(c.dockerfile), c.expected);
            return;
          case 'parseInstructionFromNode': {
            const node: Node = newNode(c.node.value);
            node.original = c.node.original ?? '';
            node.next = c.node.next.map((v: string) => newNode(v));
            node.startLine = node.endLine = 1;
            if (c.expectError) expectParseError(() => parseInstruction(node), c);
            else checkExpected(parseInstruction(node), c.expected);
            return;
          }
          case 'parseOptInterval':
            if (c.expectError) {
              assert.throws(() => parseOptInterval(c.flagName, c.input), {
                message: c.expectedErrorFromSource,
              });
            } else {
              assert.doesNotThrow(() => parseOptInterval(c.flagName, c.input));
            }
            return;
          case 'parseStages': {
            const df = parseStages(parseDockerfile(c.dockerfile));
            for (const [path, want] of Object.entries(c.expected)) {
              const got = getPath(df, path);
              if (typeof want === 'string') {
                assert.equal(got, want, path);
                continue;
              }
              const w = want as Case;
              assert.equal(got.key, w.key, path);
              assert.equal(got.docComment, w.docComment, path);
            }
            return;
          }
          default:
            assert.fail(`unknown kind ${c.kind}`);
        }
      });
    }
  });
}

describe('bflag_test.go', () => {
  for (const c of load('instructions_bflag_test.json')) {
    it(c.name, () => {
      const bf = new BFlags(c.args);
      const flags = new Map(
        c.flagDefs.map((d: Case) => [
          d.name,
          d.type === 'bool' ? bf.addBool(d.name, d.default) : bf.addString(d.name, d.default),
        ]),
      );
      if (c.expectError) {
        assert.throws(() => bf.parse(), { message: c.expectedErrorFromSource });
        return;
      }
      bf.parse();
      for (const [name, v] of Object.entries(c.expectedValues ?? {})) {
        const f = flags.get(name)! as ReturnType<BFlags['addBool']>;
        assert.equal(typeof v === 'boolean' ? f.isTrue : f.value, v, name);
      }
      if (c.expectedUsed) assert.deepEqual(bf.usedNames(), c.expectedUsed);
      if (c.expectedUsedSorted) assert.deepEqual(bf.usedNames().sort(), c.expectedUsedSorted);
    });
  }
});

describe('support_test.go', () => {
  for (const c of load('instructions_support_test.json')) {
    it(c.name, () => assert.deepEqual(handleJSONArgs(c.args, c.attributes?.json === true), c.expected));
  }
});

describe('commands_rundevice_test.go', () => {
  for (const c of load('instructions_commands_rundevice_test.json')) {
    it(c.name, () => {
      if (c.expectError) assert.throws(() => parseDevice(c.input), { message: c.expectedError });
      else assert.deepEqual(parseDevice(c.input), c.expected);
    });
  }
});

describe('RUN flags', () => {
  it('parses cache, secret, ssh, tmpfs and bind mounts with BuildKit defaults', () => {
    const run = first(
      'RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=tok ' +
        '--mount=type=ssh --mount=type=tmpfs,target=/t,size=64m --mount=target=/src,from=build,rw ' +
        '--network=none --security=insecure --device=vendor.com/gpu=all,required make',
    ) as RunCommand;
    assert.deepEqual(run.mounts, [
      {
        type: 'cache',
        target: '/root/.cache',
        readOnly: false,
        id: '/root/.cache',
        sharing: 'locked',
        from: undefined,
        source: undefined,
        mode: undefined,
        uid: undefined,
        gid: undefined,
      },
      {
        type: 'secret',
        id: 'tok',
        target: '/run/secrets/tok',
        readOnly: true,
        env: undefined,
        required: false,
        mode: 0o400,
        uid: 0,
        gid: 0,
      },
      {
        type: 'ssh',
        id: 'default',
        target: '/run/buildkit/ssh_agent.0',
        readOnly: true,
        required: false,
        mode: 0o600,
        uid: 0,
        gid: 0,
      },
      { type: 'tmpfs', target: '/t', readOnly: false, size: 64 * 1024 * 1024 },
      { type: 'bind', target: '/src', readOnly: false, source: undefined, from: 'build' },
    ]);
    assert.equal(run.network, 'none');
    assert.equal(run.security, 'insecure');
    assert.deepEqual(run.devices, [{ name: 'vendor.com/gpu=all', required: true }]);
    assert.deepEqual(run.flagsUsed, ['mount', 'network', 'security', 'device']);
  });
  it('rejects bad mount options with BuildKit messages', () => {
    assert.throws(
      () => parseMount('type=cahce,target=/x'),
      /unsupported mount type "cahce" \(did you mean cache\?\)/,
    );
    assert.throws(
      () => parseMount('type=bind,target=/x,mode=0755'),
      /mode not allowed for "bind" type mounts/,
    );
    assert.throws(() => parseMount('type=cache,target=/x,sharing=nope'), /unsupported sharing value/);
    assert.throws(() => parseMount('from=$X,target=/x'), /doesn't support variable expansion/);
    assert.throws(() => first('RUN --network=bridge x'), /unsupported network mode "bridge"/);
  });
  it('defers mount validation when values contain variables', () => {
    const run = first('RUN --mount=type=$T,target=/x true') as RunCommand;
    assert.deepEqual(run.mountSpecs, ['type=$T,target=/x']);
    const m = parseMount(run.mountSpecs[0]!, (w) => w.replace('$T', 'cache'));
    assert.equal(m.type, 'cache');
  });
});

describe('instructions', () => {
  it('suggests the closest instruction name', () => {
    assert.throws(() => first('FORM alpine'), /unknown instruction: FORM \(did you mean FROM\?\)/);
  });
  it('rejects unknown flags with a suggestion', () => {
    assert.throws(() => first('COPY --chmown=1 a b'), /unknown flag: --chmown \(did you mean chown\?\)/);
  });
  it('parses COPY and ADD flags', () => {
    const c = first(
      'COPY --from=build --chown=1:2 --chmod=u+x --link --parents --exclude=*.md --exclude=x a b /d/',
    );
    assert.equal(c.kind, 'COPY');
    if (c.kind !== 'COPY') return;
    assert.equal(c.from, 'build');
    assert.equal(c.chown, '1:2');
    assert.equal(c.chmod, 'u+x');
    assert.ok(c.link && c.parents);
    assert.deepEqual(c.excludePatterns, ['*.md', 'x']);
    assert.deepEqual(c.sourcesAndDest, { destPath: '/d/', sourcePaths: ['a', 'b'], sourceContents: [] });
    const a = first('ADD --keep-git-dir --checksum=sha256:abc --unpack=false https://x/y.tgz /d');
    assert.ok(a.kind === 'ADD' && a.keepGitDir === true && a.checksum === 'sha256:abc' && a.unpack === false);
  });
  it('parses HEALTHCHECK options and NONE', () => {
    const h = first(
      'HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --retries=3 CMD ["curl", "-f", "x"]',
    );
    assert.ok(h.kind === 'HEALTHCHECK');
    if (h.kind !== 'HEALTHCHECK') return;
    assert.deepEqual(h.health, {
      test: ['CMD', 'curl', '-f', 'x'],
      interval: 30e9,
      timeout: 90e9,
      startPeriod: 5e9,
      startInterval: 0,
      retries: 3,
    });
    const n = first('HEALTHCHECK NONE');
    assert.ok(n.kind === 'HEALTHCHECK' && n.health.test[0] === 'NONE');
    assert.throws(() => first('HEALTHCHECK --retries=-1 CMD x'), /--retries cannot be negative/);
    // Go's two micro signs (U+00B5, U+03BC) and its other units, as time.ParseDuration reads them.
    assert.equal(parseGoDuration('1500\u00b5s'), 1_500_000);
    assert.equal(parseGoDuration('1500\u03bcs'), 1_500_000);
    assert.equal(parseGoDuration('1h2m3.5s4ms5us6ns'), 3_723_504_005_006);
  });
  it('parses ONBUILD triggers', () => {
    const o = first('ONBUILD COPY --from=x a /b');
    assert.ok(o.kind === 'ONBUILD' && o.trigger.kind === 'COPY' && o.expression === 'COPY --from=x a /b');
  });
  it('builds stages with meta args, names and platforms', () => {
    const df = parseStages(
      parseDockerfile(
        'ARG V=1\nFROM --platform=$BUILDPLATFORM alpine:$V AS Build\nRUN x\nFROM scratch\nCOPY --from=build /a /a\n',
      ),
    );
    assert.equal(df.metaArgs.length, 1);
    assert.deepEqual(
      df.stages.map((s) => [s.name, s.baseName, s.platform, s.index, s.instructions.length]),
      [
        ['build', 'alpine:$V', '$BUILDPLATFORM', 0, 1],
        [undefined, 'scratch', undefined, 1, 1],
      ],
    );
    assert.throws(() => parseStages(parseDockerfile('RUN x\n')), /no build stage in current context/);
    assert.throws(() => parseStages(parseDockerfile('FROM a AS 1x\n')), /invalid name for build stage/);
  });
  it('requires SHELL in JSON form', () => {
    assert.throws(() => first('SHELL bash -c'), /SHELL requires the arguments to be in JSON form/);
  });
});

describe('expandInstruction', () => {
  it('expands exactly the fields BuildKit expands', async () => {
    const { expandInstruction } = await import('./expand.ts');
    const { ShellLex } = await import('../shell/lex.ts');
    const lex = new ShellLex();
    const env = { A: 'x', P: '8080', T: 'cache' };
    const word = (s: string) => lex.processWord(s, env);
    const words = (s: string) => lex.processWords(s, env);
    const df = parseStages(
      parseDockerfile(
        'FROM a\nCOPY --chown=$A $A/src /$A/\nEXPOSE $P/udp\nRUN --mount=type=$T,target=/c echo $A\nCMD echo $A\nENV K_$A=$A\n',
      ),
    );
    const out = df.stages[0]!.instructions.map((i) => expandInstruction(i, { word, words }));
    const [copy, expose, run, cmd, envI] = out;
    assert.ok(copy!.kind === 'COPY' && copy!.chown === 'x');
    assert.ok(copy!.kind === 'COPY' && copy!.sourcesAndDest.destPath === '/x/');
    assert.ok(expose!.kind === 'EXPOSE' && expose!.ports[0] === '8080/udp');
    assert.ok(run!.kind === 'RUN' && run!.mounts[0]!.type === 'cache' && run!.cmdLine[0] === 'echo $A');
    assert.ok(cmd!.kind === 'CMD' && cmd!.cmdLine[0] === 'echo $A');
    assert.ok(envI!.kind === 'ENV' && envI!.env[0]!.key === 'K_x' && envI!.env[0]!.value === 'x');
  });
});

describe('ARG', () => {
  it('parses several names, defaults and --required', () => {
    const a = first('ARG --required A B= C=d');
    assert.ok(a.kind === 'ARG');
    if (a.kind !== 'ARG') return;
    assert.equal(a.required, true);
    assert.deepEqual(
      a.args.map((x) => [x.key, x.value]),
      [
        ['A', undefined],
        ['B', ''],
        ['C', 'd'],
      ],
    );
    assert.throws(() => first('ARG --nope A'), /unknown flag: --nope/);
    assert.throws(() => first('ARG =x'), /ARG names can not be blank/);
  });
});
