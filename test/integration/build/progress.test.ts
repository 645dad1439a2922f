/**
 * What `kiln build` shows while it builds, through bin/kiln: BuildKit's plain progress (its
 * internal steps in order, RUN output assembled into whole lines, a failure's output once in its
 * step and once in the error summary, the warnings after the build) and BuildKit's rawjson.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { kiln, makeContext, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('progress');
});
after(() => suite.close());

/** The lines of step `#n` (its block and any later ones), without the `#n ` prefix. */
function stepLines(err: string, n: string): string[] {
  return [...err.matchAll(new RegExp(`^#${n} (.*)$`, 'gm'))].map((m) => m[1]);
}

/** The `#N` of the step whose name starts with `name`. */
function stepNumber(err: string, name: string): string {
  const m = err.match(new RegExp(`^#(\\d+) ${name.replace(/[[\]().*+?^$|\\/]/g, '\\$&')}`, 'm'));
  assert.ok(m, `no step "${name}" in:\n${err}`);
  return m[1];
}

describe('plain progress', () => {
  it('shows the steps BuildKit shows, numbered in dependency order, with the export tasks', async () => {
    const dockerfile = 'FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt\n';
    const ctx = await makeContext(suite, {
      Dockerfile: dockerfile,
      'a.txt': 'from the context\n',
      '.dockerignore': 'secret\n',
    });
    const r = kiln(suite, ['build', '--progress=plain', '-t', 'progress/app:1', ctx]);
    assert.equal(r.code, 0, r.err);
    const headers = [...r.err.matchAll(/^#(\d+) (\S.*)$/gm)]
      .filter((m, i, all) => all.findIndex((o) => o[1] === m[1]) === i)
      .map((m) => `#${m[1]} ${m[2]}`);
    assert.deepEqual(
      headers.map((h) => h.replace(/sha256:[0-9a-f]{64}/, 'sha256:…')),
      [
        '#1 [internal] load build definition from Dockerfile',
        '#2 [internal] load .dockerignore',
        '#3 [internal] load metadata for docker.io/library/busybox:latest',
        '#4 [internal] load build context',
        '#5 [1/3] FROM docker.io/library/busybox:latest@sha256:…',
        '#6 [2/3] COPY a.txt /a.txt',
        '#7 [3/3] RUN cat /a.txt',
        '#8 exporting to image',
      ],
      r.err,
    );
    assert.deepEqual(stepLines(r.err, '1').slice(1, 2), [
      `transferring dockerfile: ${dockerfile.length}B done`,
    ]);
    assert.deepEqual(stepLines(r.err, '2').slice(1, 2), ['transferring context: 7B done']);
    assert.match(r.err, /^#7 \d\.\d{3} from the context$/m);
    const exporting = stepLines(r.err, '8');
    assert.equal(exporting[0], 'exporting to image');
    assert.ok(
      exporting.some((l) => /^exporting layers( \d+\.\ds)? done$/.test(l)),
      r.err,
    );
    assert.ok(exporting.includes(`writing image ${r.out.trim()} done`), r.err);
    assert.ok(exporting.includes('naming to docker.io/progress/app:1 done'), r.err);
    assert.match(exporting.at(-1) ?? '', /^DONE \d+\.\ds$/);
    // Blocks are separated by a blank line, as BuildKit's are.
    assert.match(r.err, /^#1 DONE \d\.\ds\n\n#2 \[internal\] load \.dockerignore\n/m);
  });

  it('a RUN that writes a line in pieces shows one line', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\n' +
        "RUN printf 'a'; sleep 0.2; printf 'b\\n'; " +
        "printf 'npm'; sleep 0.05; printf ' WARN'; sleep 0.05; printf ' using --force\\n'; " +
        "printf 'Reading package lists...'; sleep 0.1; echo; echo after\n",
    });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(r.code, 0, r.err);
    const n = stepNumber(r.err, '[2/2] RUN');
    const output = stepLines(r.err, n)
      .filter((l) => /^\s*\d+\.\d+ /.test(l))
      .map((l) => l.replace(/^\s*\d+\.\d+ /, ''));
    assert.deepEqual(output, ['ab', 'npm WARN using --force', 'Reading package lists...', 'after']);
  });

  it('a character written in two pieces shows whole', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: "FROM busybox\nRUN printf 'caf\\303'; sleep 0.2; printf '\\251 ok\\n'\n",
    });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^#\d+ \d\.\d{3} café ok$/m);
    assert.doesNotMatch(r.err, /\uFFFD/);
  });

  it('pulling a base image shows its byte counts under its metadata step', async () => {
    const reg = await sharedRegistry();
    const base = `${reg.host}/kiln-spec/progress-base:1`;
    const pushed = kiln(suite, [
      'build',
      '-q',
      '--push',
      '-t',
      base,
      await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN date +%s%N > /unique\n' }),
    ]);
    assert.equal(pushed.code, 0, pushed.err);
    // A fresh root lacks the pushed layer, so the build downloads it.
    const fresh = await openSuite('progress-pull');
    try {
      const r = kiln(fresh, [
        'build',
        '--progress=plain',
        await makeContext(fresh, { Dockerfile: `FROM ${base}\nRUN true\n` }),
      ]);
      assert.equal(r.code, 0, r.err);
      const lines = stepLines(r.err, stepNumber(r.err, `[internal] load metadata for ${base}`));
      assert.ok(
        lines.some((l) =>
          /^sha256:[0-9a-f]{64} (\d+B|\d+\.\d\d[kM]B) \/ (\d+B|\d+\.\d\d[kM]B)( \d+\.\ds)? done$/.test(l),
        ),
        r.err,
      );
    } finally {
      await fresh.close();
    }
  });

  it("a failing RUN's output shows once in its step and once in the error summary", async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN true\nRUN echo boom-out; echo boom-err >&2; exit 3\n',
    });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.notEqual(r.code, 0);
    // Output lines (`#N 0.086 boom-out` in the step, `0.086 boom-out` in the summary), not the
    // command's text in the step's name and error.
    assert.equal(r.err.match(/^(#\d+ )?\d\.\d{3} boom-out$/gm)?.length, 2, r.err);
    assert.equal(r.err.match(/^(#\d+ )?\d\.\d{3} boom-err$/gm)?.length, 2, r.err);
    assert.equal(r.err.match(/^boom-(out|err)$/gm), null, 'not repeated bare after the error');
    const n = stepNumber(r.err, '[3/3] RUN');
    assert.match(r.err, new RegExp(`^#${n} \\d\\.\\d{3} boom-out$`, 'm'));
    assert.match(
      r.err,
      new RegExp(
        `^#${n} ERROR: process "/bin/sh -c echo boom-out; echo boom-err >&2; exit 3" exited with code 3$`,
        'm',
      ),
    );
    // BuildKit's summary: the step, its last lines with their times, between rules.
    assert.match(
      r.err,
      /\n------\n > \[3\/3\] RUN echo boom-out; echo boom-err >&2; exit 3:\n(\d\.\d{3} boom-(out|err)\n){2}------\n/,
    );
    // Then the error with the Dockerfile line and the hint, without the output again.
    assert.match(
      r.err,
      /------\nerror: .*Dockerfile:3: process "[^\n]*" exited with code 3\n\s+3 \| RUN echo/,
    );
  });

  it("prints the Dockerfile's warnings under the definition step and after the build", async () => {
    const dockerfile = 'FROM busybox\nARG API_TOKEN=x\nRUN true\n';
    const ctx = await makeContext(suite, { Dockerfile: dockerfile });
    const short =
      'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "API_TOKEN") (line 2)';
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(stepLines(r.err, '1').slice(1, 3), [
      `transferring dockerfile: ${dockerfile.length}B done`,
      `WARN: ${short}`,
    ]);
    assert.ok(r.err.endsWith(`\n 1 warning found (use kiln --debug to expand):\n - ${short}\n`), r.err);
    const debug = kiln(suite, ['--debug', 'build', '--progress=plain', ctx]);
    assert.ok(
      debug.err.includes(
        `:\n - ${short}\nMore info: https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/\n`,
      ),
      debug.err,
    );
    assert.match(debug.err, /^ {3}2 \| >>> ARG API_TOKEN=x$/m);
  });

  it("a slow base image's metadata is timed as its own step, and its failure is that step's", async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM 127.0.0.1:1/kiln-spec/unreachable:1\n' });
    const r = kiln(suite, ['build', '--progress=plain', ctx]);
    assert.notEqual(r.code, 0);
    assert.deepEqual(stepLines(r.err, '1').at(-1), 'DONE 0.0s', r.err);
    const n = stepNumber(r.err, '[internal] load metadata for 127.0.0.1:1/kiln-spec/unreachable:1');
    assert.match(stepLines(r.err, n).at(-1) ?? '', /^ERROR: .*ECONNREFUSED/);
    assert.ok(
      r.err.includes(
        '------\n > [internal] load metadata for 127.0.0.1:1/kiln-spec/unreachable:1:\n------\n',
      ),
      r.err,
    );
  });

  it('a push reports pushing the layers and the manifest', async () => {
    const reg = await sharedRegistry();
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo pushed > /p\n' });
    const name = `${reg.host}/kiln-spec/progress-push:1`;
    const r = kiln(suite, ['build', '--progress=plain', '--push', '-t', name, ctx]);
    assert.equal(r.code, 0, r.err);
    const n = stepNumber(r.err, 'exporting to image');
    const lines = stepLines(r.err, n);
    assert.ok(
      lines.some((l) => /^pushing layers( \d+\.\ds)? done$/.test(l)),
      r.err,
    );
    assert.ok(
      lines.some((l) => new RegExp(`^pushing manifest for ${name}@sha256:[0-9a-f]{64} done$`).test(l)),
      r.err,
    );
  });
});

describe('rawjson progress', () => {
  it("is BuildKit's SolveStatus, one object per line: vertexes, statuses, logs, warnings", async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nARG PASSWORD=x\nRUN echo raw-output; exit 0\n',
    });
    const r = kiln(suite, ['build', '--progress=rawjson', '--no-cache', ctx]);
    assert.equal(r.code, 0, r.err);
    const updates = r.err
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const u of updates)
      for (const k of Object.keys(u)) assert.ok(['vertexes', 'statuses', 'logs', 'warnings'].includes(k), k);
    const vertexes = updates.flatMap((u) => u.vertexes ?? []);
    const run = vertexes.filter((v) => v.name === '[2/2] RUN echo raw-output; exit 0');
    assert.equal(run.length, 2, 'started, then completed');
    assert.match(run[1].digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(!Number.isNaN(Date.parse(run[1].started)) && !Number.isNaN(Date.parse(run[1].completed)));
    const from = vertexes.find((v) => v.name.startsWith('[1/2] FROM'));
    assert.deepEqual(run[1].inputs, [from.digest]);
    const logs = updates.flatMap((u) => u.logs ?? []).filter((l) => l.vertex === run[1].digest);
    assert.equal(Buffer.concat(logs.map((l) => Buffer.from(l.data, 'base64'))).toString(), 'raw-output\n');
    assert.deepEqual([...new Set(logs.map((l) => l.stream))], [1]);
    const definition = vertexes.find((v) => v.name === '[internal] load build definition from Dockerfile');
    const [warning] = updates.flatMap((u) => u.warnings ?? []);
    assert.equal(warning.vertex, definition.digest);
    assert.equal(warning.level, 1);
    assert.match(Buffer.from(warning.short, 'base64').toString(), /^SecretsUsedInArgOrEnv: .* \(line 2\)$/);
    assert.equal(warning.url, 'https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/');
    assert.deepEqual(warning.range, [{ start: { line: 2 }, end: { line: 2 } }]);
    const statuses = updates.flatMap((u) => u.statuses ?? []);
    const exporting = vertexes.find((v) => v.name === 'exporting to image');
    assert.ok(
      statuses.some((s) => s.vertex === exporting.digest && s.id === 'exporting layers' && s.completed),
    );
    assert.equal(r.out.trim().length, 71, 'the image ID still goes to stdout');
  });
});
