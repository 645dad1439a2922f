/**
 * A build whose context the launcher's pre-stat saw whole, as the last build that took the same
 * checksum saw it (the same names and lstat numbers, the root's too), takes that checksum by the
 * tree's fingerprint and walks nothing (worker/runners.ts, DigestCache.treeSum). Any change to
 * the tree walks and copies again; a tree changed just before its walk keeps no checksum.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prestatFor, resetPrestat } from '../../../src/context/prestat.ts';
import { buildContext, makeContext, openSuite, read, type Suite } from './helpers.ts';

const launcher = createRequire(import.meta.url)('../../../bin/prestat.cjs') as {
  startPrestat(argv: string[]): void;
  hintFile(root: string): string;
};

let suite: Suite;
let savedCache: string | undefined;
before(async () => {
  suite = await openSuite('context-tree');
  savedCache = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(suite.dir, 'xdg-cache');
});
after(() => {
  resetPrestat();
  if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCache;
  return suite.close();
});

/** Past the margin a fingerprint keeps from the tree's last change. */
const quietly = () => new Promise((r) => setTimeout(r, 150));

describe('a context checksum taken by the tree the pre-stat saw', () => {
  let ctx: string;
  /** Build with the pre-stat the launcher starts for `kiln build ctx` (its hint left); how many listings the walk took. */
  const build = async () => {
    resetPrestat();
    launcher.startPrestat(['build', ctx]);
    const b = await buildContext(suite, ctx);
    return { b, walked: prestatFor(ctx)?.handed ?? -1 };
  };

  before(async () => {
    const files: Record<string, string> = {
      Dockerfile: 'FROM busybox\nCOPY . /ctx\nRUN cat /ctx/a > /out\n',
      a: 'one\n',
    };
    for (let i = 0; i < 20; i++) files[`d${i}/f`] = `file ${i}\n`;
    ctx = await makeContext(suite, files);
    const hint = launcher.hintFile(ctx);
    mkdirSync(dirname(hint), { recursive: true });
    writeFileSync(hint, ctx);
    await quietly();
  });

  it('walks the first time, then takes the sum by the unchanged tree and walks nothing', async () => {
    const first = await build();
    assert.ok(first.walked > 0, 'the first build walked the pre-stat');
    const again = await build();
    assert.equal(again.walked, 0, 'the unchanged tree was walked again');
    assert.deepEqual(again.b.started, [], `ran: ${again.b.started}`);
    assert.equal(again.b.result.imageId, first.b.result.imageId);
  });

  it('walks and copies again after a change', async () => {
    appendFileSync(join(ctx, 'a'), 'two\n');
    await quietly();
    const changed = await build();
    assert.ok(changed.walked > 0);
    assert.ok(
      changed.b.started.some((s) => s.includes('COPY . /ctx')),
      `ran: ${changed.b.started}`,
    );
    assert.equal(read(changed.b.fs, 'out'), 'one\ntwo\n');
    writeFileSync(join(ctx, 'd3/new'), 'new\n');
    await quietly();
    const added = await build();
    assert.ok(
      added.b.started.some((s) => s.includes('COPY . /ctx')),
      'a new file was not copied',
    );
    assert.equal(read(added.b.fs, 'ctx/d3/new'), 'new\n');
  });

  it("takes nothing by tree from a walker that did not walk (bin/kiln's for a context named like a hinted one)", async () => {
    // What that walker writes: its end record alone (the real protocol, no process behind it).
    const only = async () => {
      resetPrestat();
      const out = join(suite.dir, `end-only-${Date.now()}`);
      writeFileSync(out, Buffer.from([3, ...Array(15).fill(0)]));
      (globalThis as Record<symbol, unknown>)[Symbol.for('kiln.prestat')] = {
        root: ctx,
        fd: openSync(out, 'r'),
        stop: () => {},
        started: Date.now(),
      };
      return buildContext(suite, ctx);
    };
    await only();
    await only();
    appendFileSync(join(ctx, 'a'), 'four\n');
    await quietly();
    const changed = await only();
    assert.ok(
      changed.started.some((s) => s.includes('COPY . /ctx')),
      'the change was not copied',
    );
    assert.match(read(changed.fs, 'out'), /four\n$/);
  });

  it('keeps no sum for a tree changed just before its walk', async () => {
    appendFileSync(join(ctx, 'a'), 'three\n');
    const racy = await build();
    assert.match(read(racy.b.fs, 'out'), /three\n$/);
    await quietly();
    const next = await build();
    assert.ok(next.walked > 0, 'a sum kept under a tree changed just before its walk answered');
    assert.deepEqual(next.b.started, []);
    assert.equal((await build()).walked, 0, 'kept by the quiet walk after it');
  });
});
