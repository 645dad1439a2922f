import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exec, file, imageSource, type Vertex } from '../graph/index.ts';
import type { JobContext } from '../solver/solver.ts';
import { jobsFor, type OpRunners } from './jobs.ts';
import type { BuildState, FsState } from './state.ts';

const platform = { os: 'linux', architecture: 'amd64' };
const base: FsState = { kind: 'fs', layers: [{ snapshot: 'base' }] };
const built: FsState = { kind: 'fs', layers: [{ snapshot: 'base' }, { snapshot: 'run' }] };
const ctx: JobContext = { progress: () => {}, signal: new AbortController().signal, id: 'x' };

/** Runners that log what is called, in order; exec tells `started` (when it does) and yields once. */
function runners(log: string[], opts: { started: boolean; cheapViews?: boolean }): OpRunners {
  const none = async (): Promise<BuildState> => {
    throw new Error('not in this test');
  };
  return {
    image: async () => base,
    local: none,
    http: none,
    git: none,
    file: none,
    merge: none,
    dirChecksum: async () => '',
    cheapViews: opts.cheapViews ?? true,
    async exec(_op, _inputs, _ctx, _env, started) {
      log.push('exec starts');
      if (opts.started) started?.();
      await new Promise((r) => setImmediate(r));
      log.push('exec ends');
      return built;
    },
    async stageChecksum(state, copies) {
      log.push(
        `checksum of ${state.layers.map((l) => l.snapshot).join('+')}: ${copies.map((c) => c.srcPaths)}`,
      );
      return 'sum';
    },
    async layerTreesAhead(state, copies) {
      log.push(
        `layer trees of ${state.layers.map((l) => l.snapshot).join('+')}: ${copies.map((c) => c.srcPaths)}`,
      );
    },
  };
}

/** FROM img AS build; RUN make; FROM img; COPY --from=build /a /a; then /b and /c in one step. */
function graph(): { run: Vertex; last: Vertex } {
  const img = imageSource('img', platform);
  const run = exec(img, { args: ['make'], platform });
  const a = file(img, [{ action: 'copy', source: run, srcPaths: ['/a'], dest: '/a' }]);
  const last = file(a, [
    { action: 'copy', source: run, srcPaths: ['/b'], dest: '/b' },
    { action: 'copy', source: run, srcPaths: ['/c'], dest: '/c' },
  ]);
  return { run, last };
}

describe('a RUN whose result a later COPY --from reads', () => {
  it("has the state it starts from checksummed for those copies while it runs, its layers' attributes read", async () => {
    const log: string[] = [];
    const make = jobsFor(runners(log, { started: true }), { ignoreCache: () => false });
    const { run, last } = graph();
    make(last);
    const state = await make(run).run([base], ctx);
    assert.equal(state, built);
    // Each step's copies together, as that step's own checksum takes them.
    assert.deepEqual(log, [
      'exec starts',
      'checksum of base: /a',
      'layer trees of base: /a',
      'checksum of base: /b,/c',
      'layer trees of base: /b,/c',
      'exec ends',
    ]);
  });

  it('reads nothing ahead before the process has started, on a copying driver, or for a RUN nothing copies from', async () => {
    const log: string[] = [];
    const make = jobsFor(runners(log, { started: false }), { ignoreCache: () => false });
    const { run, last } = graph();
    make(last);
    await make(run).run([base], ctx);
    assert.deepEqual(log, ['exec starts', 'exec ends']);
    // A driver whose views are full copies (native): a read ahead would copy the filesystem.
    const copying: string[] = [];
    const made = jobsFor(runners(copying, { started: true, cheapViews: false }), {
      ignoreCache: () => false,
    });
    made(graph().last);
    await made(graph().run).run([base], ctx);
    assert.deepEqual(copying, ['exec starts', 'exec ends']);
    const alone: string[] = [];
    const other = exec(imageSource('img', platform), { args: ['other'], platform });
    await jobsFor(runners(alone, { started: true }), { ignoreCache: () => false })(other).run([base], ctx);
    assert.deepEqual(alone, ['exec starts', 'exec ends']);
  });

  it('shows the state it starts from as its preview once its process runs, and nothing when it never starts', async () => {
    const { run, last } = graph();
    const make = jobsFor(runners([], { started: true }), { ignoreCache: () => false });
    make(last);
    const job = make(run);
    const preview = job.preview?.();
    assert.ok(preview, 'a RUN has a preview');
    await job.run([base], ctx);
    assert.equal(await preview, base);
    const silent = jobsFor(runners([], { started: false }), { ignoreCache: () => false })(graph().run);
    const none = silent.preview?.();
    await silent.run([base], ctx);
    assert.equal(await none, undefined);
    const copying = jobsFor(runners([], { started: true, cheapViews: false }), { ignoreCache: () => false });
    assert.equal(copying(graph().run).preview, undefined, 'not where a view is a copy');
  });
});
