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

class MemoryCache implements ResultCache<string> {
  readonly map = new Map<string, string>();
  async get(key: string) {
    return this.map.get(key);
  }
  async put(key: string, r: string) {
    this.map.set(key, r);
  }
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
