/**
 * COPY --from is keyed by the content it copies (as BuildKit's content-based cache): a change
 * in the source stage that leaves the copied files as they were keeps the COPY and every step
 * after it cached, with the same image; a change of the copied files' content, mode or owner
 * misses. A warm build never solves the source stage: it passes with that stage's snapshot gone.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExplainEvent, VertexEvent } from '../../../src/progress/events.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { openSnapshotter } from '../../../src/store/snapshots.ts';
import { type Built, buildContext, makeContext, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('copy-from-cache');
});
after(() => suite.close());

const DOCKERFILE = `FROM busybox AS build
ARG V=1
ARG C=same
ARG M=644
ARG O=0
RUN echo $V > /x && mkdir /out && echo $C > /out/a && chmod $M /out/a && chown $O /out/a && ln -s a /out/link
FROM busybox
COPY --from=build /out /out
RUN cat /out/a > /final
`;
const steps = {
  /** The source stage's step, whose name shows the build args' values. */
  stage: '[build 2/2] RUN echo',
  copy: '[stage-1 2/3] COPY --from=build /out /out',
  run: '[stage-1 3/3] RUN cat /out/a > /final',
};

/** Step names with the source stage's cut to its start (its args show in it). */
function names(list: string[]): string[] {
  return list
    .filter((n) => !n.includes(' FROM '))
    .map((n) => (n.startsWith(steps.stage) ? steps.stage : n))
    .sort();
}

/** The explanation shown under a step. */
function explained(b: Built, step: string): string | undefined {
  const id = b.events.find((e): e is VertexEvent => e.type === 'vertex' && e.name === step)?.id;
  return b.events.find((e): e is ExplainEvent => e.type === 'explain' && e.id === id)?.text;
}

/** The committed snapshots no other snapshot builds on, whose filesystem has `/x` saying `v`. */
async function stageTops(sn: Snapshotter, v: string): Promise<string[]> {
  const all = await sn.list();
  const parents = new Set(all.map((s) => s.parent));
  const out: string[] = [];
  for (const s of all.filter((x) => x.kind === 'committed' && !parents.has(x.key))) {
    const key = `test-view-${s.key}`;
    await sn.view(key, s.key);
    try {
      const x = await sn.withMounted(key, async (dir) =>
        existsSync(join(dir, 'x')) ? readFileSync(join(dir, 'x'), 'utf8') : undefined,
      );
      if (x === `${v}\n`) out.push(s.key);
    } finally {
      await sn.remove(key);
    }
  }
  return out;
}

describe('COPY --from keyed by the content it copies', () => {
  let ctx: string;
  let first: Built;
  const rebuild = (buildArgs: Record<string, string> = {}) => buildContext(suite, ctx, { buildArgs });

  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: DOCKERFILE });
    first = await rebuild();
  });

  it('a first build runs every step', () => {
    assert.deepEqual(names(first.started), Object.values(steps).sort());
    assert.equal(read(first.fs, 'final'), 'same\n');
  });

  it('a source stage change that leaves the copied files as they were keeps the COPY and what follows cached', async () => {
    const b = await rebuild({ V: '2' });
    assert.deepEqual(names(b.started), [steps.stage], 'only the changed stage ran');
    assert.deepEqual(names(b.cached), [steps.copy, steps.run].sort());
    assert.equal(b.result.imageId, first.result.imageId, 'the same image');
    assert.equal(b.result.root?.digest, first.result.root?.digest);
  });

  it('a warm build does not solve the source stage: it passes with its snapshot removed', async () => {
    const sn = await openSnapshotter(join(suite.root, 'snapshots'));
    try {
      const tops = await stageTops(sn, '2');
      assert.equal(tops.length, 1, 'the V=2 stage has one top snapshot');
      await sn.remove(tops[0]);
    } finally {
      await sn.release();
    }
    const b = await rebuild({ V: '2' });
    assert.deepEqual(b.started, [], 'nothing ran: the stage whose snapshot is gone was never looked at');
    assert.deepEqual(names(b.cached), Object.values(steps).sort(), 'the hit stands for the stage too');
    assert.equal(b.result.imageId, first.result.imageId);
  });

  it("a change of the copied file's content misses the COPY and what follows", async () => {
    const b = await rebuild({ C: 'other' });
    assert.deepEqual(names(b.started), Object.values(steps).sort());
    assert.notEqual(b.result.imageId, first.result.imageId);
    assert.equal(read(b.fs, 'final'), 'other\n');
    assert.match(
      explained(b, steps.copy) ?? '',
      /the files it copies from RUN echo .* \(stage build, step 2\) changed/,
    );
  });

  it("a change of only the copied file's mode misses", async () => {
    const b = await rebuild({ M: '600' });
    assert.deepEqual(names(b.started), Object.values(steps).sort());
    assert.notEqual(b.result.imageId, first.result.imageId);
  });

  it("a change of only the copied file's owner misses", async () => {
    const b = await rebuild({ O: '1' });
    assert.deepEqual(names(b.started), Object.values(steps).sort());
    assert.notEqual(b.result.imageId, first.result.imageId);
  });

  it('going back to the first content hits again, with the first image', async () => {
    const b = await rebuild({ V: '3' });
    assert.deepEqual(names(b.started), [steps.stage]);
    assert.equal(b.result.imageId, first.result.imageId);
  });
});

/**
 * A later step of the source stage that leaves the copied paths alone is skipped when their
 * content is read (the checksum is taken of the snapshot below it): what it does change, the
 * directory over them it makes opaque, or the target of a link the copy follows, still misses.
 */
const LAYERED = `FROM busybox AS build
RUN mkdir -p /app/out /data && echo same > /app/out/a && echo same > /data/a && ln -s /data /link
ARG W=1
RUN echo $W > /y && case "$W" in touch) echo changed > /app/out/a ;; wipe) rm -rf /app && mkdir -p /app/keep ;; redirect) echo changed > /data/a ;; esac
FROM busybox
COPY --from=build /app/out /out
COPY --from=build /link /link
RUN cat /out/a /link/a > /final
`;

describe('COPY --from when a later step of the source stage changes other paths', () => {
  let ctx: string;
  let first: Built;
  const copyOut = '[stage-1 2/4] COPY --from=build /app/out /out';
  const copyLink = '[stage-1 3/4] COPY --from=build /link /link';
  const run = '[stage-1 4/4] RUN cat /out/a /link/a > /final';
  const later = (b: Built) => b.started.filter((n) => n.startsWith('[build 3/3]')).length;
  const rebuild = (W: string) => buildContext(suite, ctx, { buildArgs: { W } });

  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: LAYERED });
    first = await rebuild('1');
  });

  it('a change elsewhere keeps both copies and what follows cached', async () => {
    const b = await rebuild('2');
    assert.equal(later(b), 1);
    assert.deepEqual(b.started.length, 1, `only the later step ran: ${b.started}`);
    assert.equal(b.result.imageId, first.result.imageId);
  });

  it('a change of a copied file in the later step misses that copy', async () => {
    const b = await rebuild('touch');
    // The copy after it builds on its result, so it runs again too.
    assert.deepEqual(b.started.slice(1).sort(), [copyOut, copyLink, run].sort());
    assert.equal(read(b.fs, 'final'), 'changed\nsame\n');
  });

  it('a later step that replaces the directory over a copied path makes the copy fail, never hit', async () => {
    await assert.rejects(rebuild('wipe'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND', err.message);
      return true;
    });
  });

  it('a change of what a copied link points at misses that copy', async () => {
    const b = await rebuild('redirect');
    assert.ok(b.started.includes(copyLink), `started: ${b.started}`);
    assert.ok(b.cached.includes(copyOut), `cached: ${b.cached}`);
    assert.ok(b.started.includes(run));
    assert.equal(read(b.fs, 'final'), 'same\nchanged\n');
  });
});

/**
 * A COPY --from whose source stage is still running its last step is made meanwhile from the
 * state that step started from (Job.preview), and taken when the step left what the copy reads
 * as it was; when the step changed it, the copy is made again from the step's result.
 */
const AHEAD = `FROM busybox AS build
ARG W=1
RUN mkdir /out && echo one > /out/a && echo $W > /out/w
ARG L=keep
RUN sleep 2 && echo $L > /y && case "$L" in change) echo two > /out/a ;; esac
FROM busybox
COPY --from=build /out /out
RUN cat /out/a /out/w > /final
`;

describe('COPY --from made while the source stage runs its last step', () => {
  let ctx: string;
  const copy = '[stage-1 2/3] COPY --from=build /out /out';
  const texts = (b: Built) => {
    const id = b.events.find((e): e is VertexEvent => e.type === 'vertex' && e.name === copy)?.id;
    return b.events.flatMap((e) => (e.type === 'explain' && e.id === id ? [e.text] : []));
  };

  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: AHEAD });
  });

  it('is made from the state before that step when the step leaves the copied files alone', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { W: 'ahead-1', L: 'keep' } });
    assert.ok(b.started.includes(copy), `started: ${b.started}`);
    assert.ok(
      // After the reason it ran (one line: a display shows the last).
      texts(b).some((t) =>
        /^cache miss: .*; made while \[build 3\/3\] RUN sleep 2 .* ran, which left/.test(t),
      ),
      `explained: ${texts(b)}`,
    );
    assert.equal(read(b.fs, 'final'), 'one\nahead-1\n');
    assert.equal(read(b.fs, 'out/a'), 'one\n');
  });

  it('is made again from the step result when the step changed the copied files', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { W: 'ahead-2', L: 'change' } });
    assert.ok(!texts(b).some((t) => t.includes('made while')), `explained: ${texts(b)}`);
    assert.equal(read(b.fs, 'final'), 'two\nahead-2\n');
    assert.equal(read(b.fs, 'out/a'), 'two\n');
  });
});
