/**
 * Cache-miss explanations end to end: build, change one thing of each kind (a context file's
 * content, its mode, a new file, a deleted file, a build arg, a .dockerignore line, an
 * instruction's text, the base image retagged in the registry), rebuild, and check the reason
 * each step that ran gives — and that steps served from the cache give none.
 */
import assert from 'node:assert/strict';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExplainEvent } from '../../../src/progress/events.ts';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type Built, buildContext, kiln, makeContext, openSuite, type Suite, writeFiles } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('explain');
});
after(() => suite.close());

const DOCKERFILE = `FROM busybox AS base
ARG VERSION=1.0
RUN echo "v=$VERSION" > /version
FROM base
COPY package.json /app/
RUN cat /app/package.json > /app/deps
COPY src/ /app/src/
RUN ls /app/src > /app/list
`;

/** Step name (without its `[stage n/m] ` prefix) → the explanation shown under it. */
function reasons(b: Built): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of b.events) if (e.type === 'vertex') names.set(e.id, e.name.replace(/^\[[^\]]*\] /, ''));
  const out = new Map<string, string>();
  for (const e of b.events.filter((x): x is ExplainEvent => x.type === 'explain'))
    out.set(names.get(e.id) ?? e.id, e.text);
  return out;
}

/** The steps that ran give exactly these reasons; every other explained step ran from cache. */
function expectReasons(b: Built, want: Record<string, RegExp>): void {
  const got = reasons(b);
  for (const [step, re] of Object.entries(want)) assert.match(got.get(step) ?? '(no reason shown)', re, step);
  const ran = b.started.map((s) => s.replace(/^\[[^\]]*\] /, ''));
  assert.deepEqual(ran.sort(), Object.keys(want).sort(), 'the steps that ran');
  for (const step of got.keys())
    assert.ok(step in want, `${step} ran from cache but showed: ${got.get(step)}`);
}

describe('cache-miss explanations', () => {
  let ctx: string;
  const rebuild = (req = {}) =>
    buildContext(suite, ctx, { noLocal: true, buildArgs: { VERSION: '1.2' }, ...req });

  before(async () => {
    ctx = await makeContext(suite, {
      Dockerfile: DOCKERFILE,
      'package.json': '{"name":"app"}\n',
      'src/a.js': 'a\n',
      'src/c.js': 'c\n',
    });
  });

  it('a first build says there was no earlier record', async () => {
    const b = await rebuild();
    const got = reasons(b);
    assert.match(
      got.get('RUN echo "v=1.2" > /version') ?? '',
      /^cache miss: no earlier record of this step$/,
    );
    assert.match(got.get('COPY src/ /app/src/') ?? '', /no earlier record/);
  });

  it('a rebuild with nothing changed explains nothing', async () => {
    const b = await rebuild();
    expectReasons(b, {});
  });

  it("a context file's content: the COPY names it, the step after says its input changed", async () => {
    await writeFiles(ctx, { 'src/a.js': 'a, edited\n' });
    expectReasons(await rebuild(), {
      'COPY src/ /app/src/': /^cache miss: 1 file changed: src\/a\.js \(content\)$/,
      'RUN ls /app/src > /app/list': /^cache miss: its input changed: COPY src\/ \/app\/src\/ \(step 3\)$/,
    });
  });

  it("a file's mode", async () => {
    await chmod(join(ctx, 'src/a.js'), 0o755);
    expectReasons(await rebuild(), {
      'COPY src/ /app/src/': /^cache miss: 1 file changed: src\/a\.js \(mode\)$/,
      'RUN ls /app/src > /app/list': /its input changed: COPY src\//,
    });
  });

  it('a new file', async () => {
    await writeFiles(ctx, { 'src/b.js': 'b\n' });
    expectReasons(await rebuild(), {
      'COPY src/ /app/src/': /^cache miss: 1 file changed: src\/b\.js \(new\)$/,
      'RUN ls /app/src > /app/list': /its input changed/,
    });
  });

  it('a deleted file', async () => {
    await rm(join(ctx, 'src/c.js'));
    expectReasons(await rebuild(), {
      'COPY src/ /app/src/': /^cache miss: 1 file changed: src\/c\.js \(deleted\)$/,
      'RUN ls /app/src > /app/list': /its input changed/,
    });
  });

  it('a build arg: the RUN that reads it names it with both values', async () => {
    const b = await rebuild({ buildArgs: { VERSION: '1.3' } });
    expectReasons(b, {
      'RUN echo "v=1.3" > /version': /^cache miss: ARG VERSION changed: 1\.2 → 1\.3$/,
      'COPY package.json /app/': /its input changed: RUN echo "v=1\.3" > \/version \(stage base, step 2\)/,
      // A later stage inherits the stage's args: the RUN there reads VERSION too.
      'RUN cat /app/package.json > /app/deps': /^cache miss: ARG VERSION changed: 1\.2 → 1\.3$/,
      'COPY src/ /app/src/': /its input changed: RUN cat/,
      'RUN ls /app/src > /app/list': /^cache miss: ARG VERSION changed: 1\.2 → 1\.3$/,
    });
  });

  it('a .dockerignore line: the file shows as newly excluded', async () => {
    await rebuild(); // back to VERSION=1.2, cached
    await writeFile(join(ctx, '.dockerignore'), 'src/b.js\n');
    const b = await rebuild();
    const got = reasons(b);
    assert.match(
      got.get('COPY src/ /app/src/') ?? '',
      /1 file changed \(\.dockerignore changed\): src\/b\.js \(newly excluded\)/,
    );
    // kiln's context key holds its filters: COPY package.json runs too, and says why.
    assert.match(
      got.get('COPY package.json /app/') ?? '',
      /^cache miss: \.dockerignore changed \(the files this step reads did not\)$/,
    );
    await writeFile(join(ctx, '.dockerignore'), 'other.txt\n');
    const back = reasons(await rebuild());
    assert.match(back.get('COPY src/ /app/src/') ?? '', /src\/b\.js \(newly included\)/);
  });

  it("an instruction's text", async () => {
    await rm(join(ctx, '.dockerignore'));
    await rebuild();
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE.replace('RUN ls /app/src', 'RUN ls -a /app/src'));
    expectReasons(await rebuild(), {
      'RUN ls -a /app/src > /app/list':
        /^cache miss: instruction changed: RUN ls -a \/app\/src > \/app\/list \(was: RUN ls \/app\/src > \/app\/list\)$/,
    });
  });

  it('--no-cache says so for every step; --explain says where each hit came from', async () => {
    const b = await rebuild({ noCache: true });
    assert.ok([...reasons(b).values()].every((r) => r === 'cache miss: --no-cache'));
    const hits = reasons(await rebuild({ explain: true }));
    // Every cached step says where its result came from, also those the last hit stands for.
    for (const step of [
      'RUN ls -a /app/src > /app/list',
      'COPY src/ /app/src/',
      'RUN echo "v=1.2" > /version',
    ])
      assert.match(
        hits.get(step) ?? '',
        new RegExp(`^cache hit: made by build ${b.result.buildId.slice(0, 12)} at `),
        step,
      );
  });

  it('--no-cache-filter: the stage it names says so, the steps built on it name the reason', async () => {
    const got = reasons(await rebuild({ noCacheFilter: ['base'] }));
    assert.equal(got.get('RUN echo "v=1.2" > /version'), 'cache miss: --no-cache-filter names its stage');
    assert.equal(
      got.get('COPY package.json /app/'),
      'cache miss: a step it builds on ignores the cache (--no-cache-filter)',
    );
  });

  it('after builder prune every step that ran says its cached result was pruned', async () => {
    const pruned = kiln(suite, ['builder', 'prune', '--all', '--force']);
    assert.equal(pruned.code, 0, pruned.err);
    const got = reasons(await rebuild());
    assert.ok(got.size >= 5, [...got.keys()].join(' | '));
    for (const [step, why] of got)
      assert.match(why, /^cache miss: cache pruned: the result build [0-9a-f]{12} made was removed$/, step);
  });

  it('the base image retagged in the registry: FROM names both digests, the next step its input', async () => {
    const reg = await sharedRegistry();
    const base = `${reg.host}/kiln-explain/base:1`;
    const makeAndPush = async (text: string) => {
      const c = await makeContext(suite, { Dockerfile: `FROM busybox\nRUN echo ${text} > /base\n` });
      return buildContext(suite, c, { noLocal: true, output: ['type=image,push=true'], tags: [base] });
    };
    const one = await makeAndPush('one');
    const app = await makeContext(suite, { Dockerfile: `FROM ${base}\nRUN cat /base > /copy\n` });
    await buildContext(suite, app, { noLocal: true, pull: true });
    const two = await makeAndPush('two');
    const b = await buildContext(suite, app, { noLocal: true, pull: true });
    const got = reasons(b);
    const from = [...got.entries()].find(([k]) => k.startsWith('FROM '));
    assert.ok(from, `FROM explained: ${[...got.keys()].join(' | ')}`);
    assert.match(
      from[1],
      new RegExp(
        `the registry now resolves ${base.replace(/[.]/g, '\\.')} to ${two.result.root?.digest} \\(was ${one.result.root?.digest}\\)`,
      ),
    );
    assert.match(got.get('RUN cat /base > /copy') ?? '', /its input changed: FROM /);
  });
});
