import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProgressEvent } from '../progress/events.ts';
import { type Job, type ResultCache, Solver } from './solver.ts';

/** A job that records its runs and returns the concatenation of its inputs plus its name. */
function job(
  name: string,
  inputs: Job<string>[] = [],
  opts: { delay?: number; content?: () => string; fail?: boolean } = {},
) {
  const runs: number[] = [];
  const j: Job<string> & { runs: number[] } = {
    digest: `d-${name}`,
    name,
    inputs,
    runs,
    contentKey: opts.content ? async () => opts.content?.() : undefined,
    async run(ins) {
      runs.push(Date.now());
      if (opts.delay) await new Promise((r) => setTimeout(r, opts.delay));
      if (opts.fail) throw new Error(`${name} failed`);
      return ins.join('+') + (ins.length ? '>' : '') + name;
    },
  };
  return j;
}

/**
 * A copy on `base` whose content key (a context's checksum) takes as long as `work`: what it was
 * told runs beside it, and how long it waited.
 */
function keyedCopy(base: Job<string>, work: () => Promise<unknown>) {
  const seen: { copy: Job<string>; beside?: boolean; waited: number } = {
    copy: job('copy', [base]),
    waited: 0,
  };
  seen.copy.contentKey = async (ctx) => {
    seen.beside = await ctx.beside;
    const t = Date.now();
    await work();
    seen.waited = Date.now() - t;
    return 'context files';
  };
  return seen;
}

/**
 * COPY --from a stage whose last step is still running: the step shows `before` (the state it
 * started from) as its preview once it starts, and returns `stage` after `delay` ms. The copy
 * reads `what` of the state it is given; `checksumDelay` slows reading the preview's.
 */
function copyAhead(what: (result: string) => string, opts: { checksumDelay?: number } = {}) {
  const delay = 60;
  let show: (state: string | undefined) => void = () => {};
  const shown = new Promise<string | undefined>((resolve) => {
    show = resolve;
  });
  const made = job('stage', [], { delay });
  const marks = { stageDone: 0 };
  const stage: Job<string> = {
    ...made,
    preview: () => shown,
    async run(ins, ctx) {
      show('before');
      const r = await made.run(ins, ctx);
      marks.stageDone = Date.now();
      return r;
    },
  };
  const base = job('base');
  const copy: Job<string> & { runs: number[] } = {
    ...job('copy', [base, stage]),
    contentInputs: {
      indexes: [1],
      async checksum(_i, result) {
        if (result === 'before' && opts.checksumDelay)
          await new Promise((r) => setTimeout(r, opts.checksumDelay));
        return what(result);
      },
    },
  };
  return { stage, copy, marks };
}

class MemoryCache implements ResultCache<string> {
  readonly map = new Map<string, string>();
  readonly links = new Map<string, string>();
  async get(key: string) {
    return this.map.get(key);
  }
  async put(key: string, r: string) {
    this.map.set(key, r);
  }
  async getLink(key: string) {
    return this.links.get(key);
  }
  async putLink(key: string, target: string) {
    this.links.set(key, target);
  }
}

/**
 * COPY --from as the solver sees it: `stage` (whose result is `stage>…` with a `tag` the stage's
 * digest carries), a `copy` that reads it by content (`what` it reads of the result) on `base`,
 * and a `top` built on the copy. `checksums` counts content reads.
 */
function copyFrom(tag: string, what: (result: string) => string) {
  const checksums: string[] = [];
  const stage = { ...job(`stage-${tag}`), name: 'stage' };
  const base = job('base');
  const copy: Job<string> & { runs: number[] } = {
    ...job('copy', [base, stage]),
    // A vertex digest covers its inputs' digests (the stage's changes with it), its key digest not.
    digest: `d-copy-from-${tag}`,
    keyDigest: 'd-copy',
    contentInputs: {
      indexes: [1],
      async checksum(_i, result) {
        checksums.push(result);
        return what(result);
      },
    },
  };
  const top = { ...job('top', [copy]), digest: `d-top-on-${tag}`, keyDigest: 'd-top' };
  return { stage, base, copy, top, checksums };
}

describe('solver', () => {
  it('runs a shared input once when two branches need it', async () => {
    const base = job('base');
    const a = job('a', [base]);
    const b = job('b', [base]);
    const top = job('top', [a, b]);
    const r = await new Solver<string>().solve(top);
    assert.equal(r.result, 'base>a+base>b>top');
    assert.equal(base.runs.length, 1);
  });

  it('runs independent branches concurrently', async () => {
    const a = job('a', [], { delay: 150 });
    const b = job('b', [], { delay: 150 });
    const top = job('top', [a, b]);
    const t0 = Date.now();
    await new Solver<string>({ parallelism: 2 }).solve(top);
    assert.ok(Date.now() - t0 < 280, 'two 150 ms jobs in parallel finish well under 300 ms');
  });

  it('respects the parallelism bound', async () => {
    const a = job('a', [], { delay: 100 });
    const b = job('b', [], { delay: 100 });
    const t0 = Date.now();
    await new Solver<string>({ parallelism: 1 }).solve(job('top', [a, b]));
    assert.ok(Date.now() - t0 >= 195, 'serialized jobs take the sum of their times');
  });

  it('a cache hit skips the job and its inputs', async () => {
    const cache = new MemoryCache();
    const mk = () => {
      const base = job('base');
      return { base, top: job('top', [base]) };
    };
    const first = mk();
    await new Solver<string>({ cache }).solve(first.top);
    const second = mk();
    const events: ProgressEvent[] = [];
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(second.top);
    assert.equal(r.cached, true);
    assert.equal(r.result, 'base>top');
    assert.equal(second.base.runs.length, 0);
    assert.equal(second.top.runs.length, 0);
    assert.deepEqual(
      events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`),
      ['base cached', 'top cached'],
      'the hit and the step that led to it are both reported cached',
    );
  });

  it('a source read for a content key is reported as run, not also as cached under the hit', async () => {
    const cache = new MemoryCache();
    const mk = () => {
      const context = { ...job('context'), noCache: true };
      const base = job('base');
      const copy: Job<string> = {
        ...job('copy', [base, context]),
        contentKey: async (ctx) => `read ${await ctx.input(1)}`,
      };
      return copy;
    };
    await new Solver<string>({ cache }).solve(mk());
    const events: ProgressEvent[] = [];
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(mk());
    assert.equal(r.cached, true);
    assert.deepEqual(
      events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`),
      ['context started', 'context done', 'base cached', 'copy cached'],
    );
  });

  it('reports the inputs of a step, and its error without the output it already showed', async () => {
    const events: ProgressEvent[] = [];
    const base = job('base');
    const failing: Job<string> = {
      ...job('run', [base]),
      async run() {
        throw Object.assign(new Error('process "make" exited with code 2\nlast output'), {
          outputTail: 'last output',
        });
      },
    };
    await assert.rejects(new Solver<string>({ progress: (e) => events.push(e) }).solve(failing));
    const run = events.filter((e) => e.type === 'vertex' && e.name === 'run');
    assert.deepEqual(
      run.map((e) => e.type === 'vertex' && [e.status, e.inputs, e.error]),
      [
        ['started', ['d-base'], undefined],
        ['error', ['d-base'], 'process "make" exited with code 2'],
      ],
    );
  });

  it('a changed content key misses the cache for that job and its dependents only', async () => {
    const cache = new MemoryCache();
    let content = 'v1';
    const mk = () => {
      const base = job('base');
      const copy = job('copy', [base], { content: () => content });
      return { base, copy, top: job('top', [copy]) };
    };
    await new Solver<string>({ cache }).solve(mk().top);
    content = 'v2';
    const again = mk();
    const r = await new Solver<string>({ cache }).solve(again.top);
    assert.equal(r.cached, false);
    assert.equal(again.base.runs.length, 0, 'base is still cached');
    assert.equal(again.copy.runs.length, 1);
    assert.equal(again.top.runs.length, 1);
  });

  it('content inputs: a warm build takes the content key recorded under the cheap key, solving nothing', async () => {
    const cache = new MemoryCache();
    const cold = copyFrom('v1', () => 'same');
    const first = await new Solver<string>({ cache }).solve(cold.top);
    assert.equal(first.result, 'base+stage-v1>copy>top');
    assert.equal(cold.checksums.length, 1, 'a cold build reads the content once');
    assert.equal(cache.links.size, 2, 'the cheap keys of the copy and of the step on it are linked');
    const warm = copyFrom('v1', () => 'same');
    const events: ProgressEvent[] = [];
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(warm.top);
    assert.equal(r.cached, true);
    assert.equal(r.key, first.key);
    assert.equal(warm.stage.runs.length, 0, 'the source stage is not solved');
    assert.deepEqual(warm.checksums, [], 'nothing is read');
    assert.deepEqual(
      events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`),
      ['base cached', 'stage cached', 'copy cached', 'top cached'],
    );
  });

  it('content inputs: a changed source stage with the same content hits the content key, and so do its dependents', async () => {
    const cache = new MemoryCache();
    const first = await new Solver<string>({ cache }).solve(copyFrom('v1', () => 'same').top);
    const changed = copyFrom('v2', () => 'same');
    const events: ProgressEvent[] = [];
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(changed.top);
    assert.equal(r.cached, true);
    assert.equal(r.key, first.key, 'the dependent keeps its key: it is made from the content key');
    assert.equal(r.result, 'base+stage-v1>copy>top', 'the result made from the same content');
    assert.equal(changed.stage.runs.length, 1, 'the changed stage ran to be read');
    assert.deepEqual(changed.checksums, ['stage-v2']);
    assert.equal(changed.copy.runs.length, 0);
    assert.equal(changed.top.runs.length, 0);
    assert.deepEqual(
      events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`),
      // The copy's other input is looked up beside the stage it reads, not after it.
      ['base cached', 'stage started', 'stage done', 'copy cached', 'top cached'],
    );
    // The cheap key of the changed stage now leads to the content key too: nothing is read next time.
    const again = copyFrom('v2', () => 'same');
    await new Solver<string>({ cache }).solve(again.top);
    assert.deepEqual(again.checksums, []);
    assert.equal(again.stage.runs.length, 0);
  });

  it("content inputs: a cold copy's other inputs build beside the stage it reads, not after it", async () => {
    const events: ProgressEvent[] = [];
    const stage = job('stage', [], { delay: 40 });
    const base = job('base', [], { delay: 40 });
    const copy: Job<string> = {
      ...job('copy', [base, stage]),
      contentInputs: { indexes: [1], checksum: async (_i, result) => result },
    };
    const r = await new Solver<string>({ cache: new MemoryCache(), progress: (e) => events.push(e) }).solve(
      copy,
    );
    assert.equal(r.result, 'base+stage>copy');
    const order = events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`);
    assert.ok(
      order.indexOf('base started') < order.indexOf('stage done'),
      `base starts while the stage builds: ${order.join(', ')}`,
    );
    assert.equal(base.runs.length, 1, 'and runs once');
  });

  it("a cold step's inputs run while its content key is computed, not after it", async () => {
    // The content key (a context's checksum) resolves only once the base has started, or after
    // a second: a solver that waits for the key before the base takes the second.
    let baseStarted: () => void = () => {};
    const started = new Promise<void>((r) => {
      baseStarted = r;
    });
    const base: Job<string> & { runs: number[] } = {
      ...job('base'),
      async run(ins) {
        baseStarted();
        return job('base').run(ins, undefined as never);
      },
    };
    const cold = keyedCopy(base, () => Promise.race([started, new Promise((r) => setTimeout(r, 1000))]));
    const cache = new (class extends MemoryCache {
      async has(key: string) {
        return this.map.has(key);
      }
    })();
    const r = await new Solver<string>({ cache }).solve(job('top', [cold.copy]));
    assert.equal(r.result, 'base>copy>top');
    assert.ok(cold.waited < 500, `the base started while the key was computed (waited ${cold.waited} ms)`);
    assert.equal(cold.beside, true, 'the key was not told that its input runs beside it');

    // Warm: the base is in the cache, so nothing starts ahead of the key (which then hits).
    const warmBase = job('base');
    const warm = keyedCopy(warmBase, () => new Promise((r) => setTimeout(r, 50)));
    const gets: string[] = [];
    const get = cache.get.bind(cache);
    cache.get = async (key) => {
      gets.push(key);
      return get(key);
    };
    const again = await new Solver<string>({ cache }).solve(job('top', [warm.copy]));
    assert.equal(again.cached, true);
    assert.ok(warm.waited >= 40);
    assert.equal(warmBase.runs.length, 0);
    // Only the top's result is taken (an imported one would be fetched): the base is not solved.
    assert.equal(gets.length, 1, 'a cached base is not solved ahead of the key');
    assert.equal(warm.beside, false, 'nothing runs beside a warm key: it takes the main thread whole');
  });

  it('without a way to ask the cache what it holds, inputs wait for the content key', async () => {
    const order: string[] = [];
    const base: Job<string> = {
      ...job('base'),
      async run() {
        order.push('base');
        return 'base';
      },
    };
    const copy: Job<string> = {
      ...job('copy', [base]),
      contentKey: async () => {
        await new Promise((r) => setTimeout(r, 30));
        order.push('key');
        return 'k';
      },
    };
    await new Solver<string>({ cache: new MemoryCache() }).solve(copy);
    assert.deepEqual(order, ['key', 'base']);
  });

  it('content inputs: different content misses both keys, runs, and records under both', async () => {
    const cache = new MemoryCache();
    await new Solver<string>({ cache }).solve(copyFrom('v1', (r) => r).top);
    const changed = copyFrom('v2', (r) => r);
    const r = await new Solver<string>({ cache }).solve(changed.top);
    assert.equal(r.cached, false);
    assert.equal(r.result, 'base+stage-v2>copy>top');
    assert.equal(changed.copy.runs.length, 1);
    assert.equal(changed.top.runs.length, 1);
    assert.equal(changed.base.runs.length, 0, 'the base input keeps its own key and hits');
    assert.equal(cache.links.size, 4, 'two cheap keys each for the copy and the step on it');
    const warm = copyFrom('v2', (r) => r);
    const w = await new Solver<string>({ cache }).solve(warm.top);
    assert.equal(w.cached, true);
    assert.equal(w.result, 'base+stage-v2>copy>top');
    assert.deepEqual(warm.checksums, []);
  });

  it('content inputs: a step on the copy is found by its own cheap key and link alone (an imported record)', async () => {
    const cache = new MemoryCache();
    const first = await new Solver<string>({ cache }).solve(copyFrom('v1', () => 'same').top);
    // Only the final step's result and link travel (a mode=min or inline cache record).
    for (const [k, t] of cache.links) if (t !== first.key) cache.links.delete(k);
    for (const k of cache.map.keys()) if (k !== first.key) cache.map.delete(k);
    const warm = copyFrom('v1', () => 'same');
    const r = await new Solver<string>({ cache }).solve(warm.top);
    assert.equal(r.cached, true);
    assert.equal(warm.stage.runs.length, 0);
    assert.deepEqual(warm.checksums, []);
  });

  it('content inputs: a link whose result is gone is read again, never trusted', async () => {
    const cache = new MemoryCache();
    const first = copyFrom('v1', () => 'old content');
    await new Solver<string>({ cache }).solve(first.copy);
    // The copy's result is pruned, and the stage (same key) now makes other content.
    cache.map.clear();
    const again = copyFrom('v1', () => 'new content');
    const r = await new Solver<string>({ cache }).solve(again.copy);
    assert.equal(r.cached, false);
    assert.deepEqual(again.checksums, ['stage-v1'], 'the content was read again');
    const later = copyFrom('v9', () => 'old content');
    const l = await new Solver<string>({ cache }).solve(later.copy);
    assert.equal(l.cached, false, 'the result made from the new content is not stored as the old content');
  });

  it('content inputs: a copy runs ahead on the state its stage started from, and is taken when the stage left what it reads alone', async () => {
    const cache = new MemoryCache();
    const events: ProgressEvent[] = [];
    const { copy, marks } = copyAhead(() => 'same');
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(copy);
    assert.equal(r.result, 'base+before>copy', 'the run made from the preview');
    assert.equal(r.cached, false, 'it ran in this build');
    assert.equal(copy.runs.length, 1);
    assert.ok(copy.runs[0] < marks.stageDone, 'it ran while the stage did');
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'vertex' && e.name === 'copy' ? [e.status] : [])),
      ['started', 'done'],
      'shown once, as run',
    );
    assert.ok(
      events.some((e) => e.type === 'explain' && e.text.startsWith('made while stage ran')),
      'and said so',
    );
    const again = copyAhead(() => 'same');
    const w = await new Solver<string>({ cache }).solve(again.copy);
    assert.equal(w.cached, true, 'recorded: the same content hits');
    assert.equal(again.copy.runs.length, 0);
  });

  it('content inputs: a copy run ahead is not taken when the stage changed what it reads: it runs on the result', async () => {
    const events: ProgressEvent[] = [];
    const { copy } = copyAhead((result) => result);
    const cache = new MemoryCache();
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(copy);
    assert.equal(r.result, 'base+stage>copy');
    assert.equal(copy.runs.length, 2, 'ahead, for nothing, then on the result');
    assert.deepEqual(
      [...cache.map.values()].filter((v) => v.endsWith('>copy')),
      ['base+stage>copy'],
      'the run not taken is not recorded',
    );
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'vertex' && e.name === 'copy' ? [e.status] : [])),
      ['started', 'done'],
    );
    assert.ok(!events.some((e) => e.type === 'explain' && e.text.startsWith('made while')));
  });

  it('content inputs: a copy whose key ahead is not known before its stage ends does not run ahead', async () => {
    const { copy } = copyAhead(() => 'same', { checksumDelay: 150 });
    const r = await new Solver<string>({ cache: new MemoryCache() }).solve(copy);
    assert.equal(r.result, 'base+stage>copy');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(copy.runs.length, 1, 'only on the result');
  });

  it('content inputs: a run ahead not taken is canceled, and settled() waits for it to end', async () => {
    const { copy } = copyAhead((result) => result);
    const seen: { aborted: boolean; ended: number }[] = [];
    const slow: Job<string> = {
      ...copy,
      async run(ins, ctx) {
        const mine = { aborted: false, ended: 0 };
        seen.push(mine);
        // The run ahead outlasts its stage; the one on the result is quick.
        if (ins[1] === 'before')
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 2000);
            ctx.signal.addEventListener('abort', () => {
              mine.aborted = true;
              clearTimeout(t);
              setTimeout(resolve, 30);
            });
          });
        mine.ended = Date.now();
        return `${ins.join('+')}>copy`;
      },
    };
    const solver = new Solver<string>({ cache: new MemoryCache() });
    const r = await solver.solve(slow);
    assert.equal(r.result, 'base+stage>copy');
    await solver.settled();
    const done = Date.now();
    assert.equal(seen.length, 2);
    assert.equal(seen[0].aborted, true, 'the run ahead was told to stop');
    assert.ok(seen[0].ended > 0 && seen[0].ended <= done, 'and had ended when settled() returned');
  });

  it('content inputs: dropping a run ahead does not cancel its checksum, which others may share', async () => {
    const { copy } = copyAhead((result) => result);
    const signals: AbortSignal[] = [];
    const ci = copy.contentInputs as NonNullable<typeof copy.contentInputs>;
    const watched: Job<string> = {
      ...copy,
      contentInputs: {
        indexes: ci.indexes,
        checksum(i, result, signal) {
          if (result === 'before') signals.push(signal);
          return ci.checksum(i, result, signal);
        },
      },
    };
    const solver = new Solver<string>({ cache: new MemoryCache() });
    assert.equal((await solver.solve(watched)).result, 'base+stage>copy');
    await solver.settled();
    assert.equal(signals.length, 1, 'the preview was checksummed');
    assert.equal(signals[0].aborted, false, 'the dropped run canceled a checksum others may wait on');
  });

  it('with nothing in the cache, a step on a content key runs while its key is made, and is recorded under it', async () => {
    // The content key (a context's checksum) resolves once the copy has started, or after a
    // second: a solver that waits for the key before the copy takes the second.
    const order: string[] = [];
    let copyStarted: () => void = () => {};
    const started = new Promise<void>((r) => {
      copyStarted = r;
    });
    const mk = () => {
      const copy: Job<string> & { runs: number[] } = {
        ...job('copy', [job('base')]),
        contentKey: async () => {
          await Promise.race([started, new Promise((r) => setTimeout(r, 1000))]);
          order.push('key');
          return 'context files';
        },
      };
      const run = copy.run;
      copy.run = async (ins, ctx) => {
        order.push('copy');
        copyStarted();
        return run(ins, ctx);
      };
      return copy;
    };
    const cache = new (class extends MemoryCache {
      async empty() {
        return this.map.size === 0;
      }
    })();
    const t = Date.now();
    const events: ProgressEvent[] = [];
    const cold = mk();
    const r = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(job('top', [cold]));
    assert.equal(r.result, 'base>copy>top');
    assert.ok(Date.now() - t < 500, `the copy ran before its key (took ${Date.now() - t} ms)`);
    assert.deepEqual(order, ['copy', 'key']);
    const copyEvents = events.flatMap((e) => (e.type === 'vertex' && e.name === 'copy' ? [e.status] : []));
    assert.deepEqual(copyEvents, ['started', 'done']);

    // Recorded under the key it would have had: a warm build takes it, running nothing.
    order.length = 0;
    const warm = mk();
    copyStarted = () => {};
    const again = await new Solver<string>({ cache }).solve(job('top', [warm]));
    assert.equal(again.cached, true);
    assert.equal(warm.runs.length, 0);
    assert.deepEqual(order, ['key']);
  });

  it('with results in the cache, a step on a content key waits for its key (it may hit)', async () => {
    const order: string[] = [];
    const copy: Job<string> = {
      ...job('copy', [job('base')]),
      contentKey: async () => {
        await new Promise((r) => setTimeout(r, 30));
        order.push('key');
        return 'k';
      },
    };
    copy.run = async () => {
      order.push('copy');
      return 'copy';
    };
    const cache = new (class extends MemoryCache {
      async empty() {
        return false;
      }
    })();
    await new Solver<string>({ cache }).solve(copy);
    assert.deepEqual(order, ['key', 'copy']);
    // --no-cache: it runs whatever its key, so it starts at once.
    order.length = 0;
    await new Solver<string>({ cache }).solve({ ...copy, ignoreCache: true });
    assert.deepEqual(order, ['copy', 'key']);
  });

  it("a step run before its key fails once, with its key's error; settled() waits for its run", async () => {
    const events: ProgressEvent[] = [];
    let ended = false;
    const copy: Job<string> = {
      ...job('copy', [job('base')]),
      contentKey: async () => {
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('a context file vanished');
      },
      async run() {
        await new Promise((r) => setTimeout(r, 60));
        ended = true;
        throw new Error('the copy failed too');
      },
    };
    const cache = new (class extends MemoryCache {
      async empty() {
        return true;
      }
    })();
    const solver = new Solver<string>({ cache, progress: (e) => events.push(e) });
    await assert.rejects(solver.solve(job('top', [copy])), /a context file vanished/);
    await solver.settled();
    assert.equal(ended, true, 'settled() waited for the run');
    const failures = events.filter((e) => e.type === 'vertex' && e.name === 'copy' && e.status === 'error');
    assert.equal(failures.length, 1, 'the step failed once');
    assert.ok(![...cache.map.values()].some((v) => v.includes('copy')), 'the step was not recorded');
  });

  it('noCache jobs run every time', async () => {
    const cache = new MemoryCache();
    const mk = () => ({ ...job('x'), noCache: true });
    await new Solver<string>({ cache }).solve(mk());
    const j = mk();
    const r = await new Solver<string>({ cache }).solve(j);
    assert.equal(r.cached, false);
  });

  it('ignoreCache jobs run despite a hit and record their new result for the next build', async () => {
    const cache = new MemoryCache();
    const mk = (ignoreCache: boolean, name = 'x') => {
      const base = job('base');
      const top: Job<string> & { runs: number[] } = { ...job('top', [base]), ignoreCache };
      top.run = async (ins) => {
        top.runs.push(Date.now());
        return `${ins.join('+')}>${name}`;
      };
      return { base, top };
    };
    await new Solver<string>({ cache }).solve(mk(false, 'old').top);
    const forced = mk(true, 'new');
    const r = await new Solver<string>({ cache }).solve(forced.top);
    assert.equal(r.cached, false);
    assert.equal(forced.top.runs.length, 1, 'the ignored step ran although it was cached');
    const plain = mk(false, 'unused');
    const events: ProgressEvent[] = [];
    const again = await new Solver<string>({ cache, progress: (e) => events.push(e) }).solve(plain.top);
    assert.equal(again.cached, true);
    assert.equal(again.result, 'base>new', 'the result the ignoring build recorded');
    assert.equal(plain.top.runs.length, 0);
    assert.deepEqual(
      events.map((e) => e.type === 'vertex' && `${e.name} ${e.status}`),
      ['base cached', 'top cached'],
    );
  });

  it('a failing job rejects with its error and reports it', async () => {
    const events: ProgressEvent[] = [];
    const bad = job('bad', [], { fail: true });
    await assert.rejects(
      new Solver<string>({ progress: (e) => events.push(e) }).solve(job('top', [bad])),
      /bad failed/,
    );
    assert.ok(events.some((e) => e.type === 'vertex' && e.status === 'error' && e.error === 'bad failed'));
  });

  it('an aborted build stops before starting more work', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(new Solver<string>({ signal: ac.signal }).solve(job('x')), { code: 'CANCELED' });
  });
});
