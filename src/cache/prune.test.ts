import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { openSnapshotter } from '../store/snapshots.ts';
import { BuildCache } from './build-cache.ts';
import { pruneBuildCache } from './prune.ts';

describe('builder prune', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-prune-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('removes snapshots no kept result reaches and leaves kept chains', async () => {
    const sn = await openSnapshotter(join(dir, 'sn'), 'native');
    const cache = new BuildCache(join(dir, 'cache.db'));
    for (const [key, parent] of [
      ['base', undefined],
      ['kept', 'base'],
      ['stale', 'base'],
      ['stale-child', 'stale'],
    ] as const) {
      await sn.prepare(`a-${key}`, parent);
      await sn.commit(key, `a-${key}`);
    }
    cache.putResult('k1', { kind: 'fs', layers: [{ snapshot: 'base' }, { snapshot: 'kept' }] });
    cache.putResult('k2', {
      kind: 'fs',
      layers: [{ snapshot: 'base' }, { snapshot: 'stale' }, { snapshot: 'stale-child' }],
    });
    // Make k2 look unused for three days.
    const later = Date.now() + 72 * 3600_000;
    cache.getResult('k1');
    const young = await pruneBuildCache(cache, sn, { now: Date.now() });
    assert.equal(young.snapshotsRemoved, 0, 'every snapshot is reached by a result used just now');
    const r = await pruneBuildCache(cache, sn, { now: later, unusedForMs: 48 * 3600_000 + 1 });
    assert.equal(r.resultsRemoved, 2, 'both results are older than the cut-off at that time');
    const keys = (await sn.list()).map((s) => s.key).sort();
    assert.deepEqual(keys, [], 'with no results left, every old snapshot goes, children first');
    cache.close();
  });

  it('keeps what remaining results reach, including parents', async () => {
    const sn = await openSnapshotter(join(dir, 'sn2'), 'native');
    const cache = new BuildCache(join(dir, 'cache2.db'));
    for (const [key, parent] of [
      ['base', undefined],
      ['kept', 'base'],
      ['stale', 'base'],
    ] as const) {
      await sn.prepare(`a-${key}`, parent);
      await sn.commit(key, `a-${key}`);
    }
    cache.putResult('k1', { kind: 'fs', layers: [{ snapshot: 'kept' }] });
    const r = await pruneBuildCache(cache, sn, { now: Date.now() + 1000 });
    assert.equal(r.snapshotsRemoved, 1);
    assert.deepEqual((await sn.list()).map((s) => s.key).sort(), ['base', 'kept']);
    const all = await pruneBuildCache(cache, sn, { all: true, now: Date.now() + 1000 });
    assert.equal(all.resultsRemoved, 1);
    assert.deepEqual(await sn.list(), []);
    cache.close();
  });

  it('leaves what another snapshotter holds, and its chain, until that one releases it', async () => {
    const root = join(dir, 'sn3');
    const building = await openSnapshotter(root, 'native');
    const pruning = await openSnapshotter(root, 'native');
    const cache = new BuildCache(join(dir, 'cache3.db'));
    await building.prepare('a-base');
    await building.commit('base', 'a-base');
    await building.prepare('a-top', 'base');
    await building.commit('top', 'a-top');
    // Made by a build that has ended: nobody holds it.
    await pruning.prepare('a-old');
    await pruning.commit('old', 'a-old');
    await pruning.release();
    const held = await pruneBuildCache(cache, pruning, { all: true });
    assert.equal(held.snapshotsRemoved, 1, 'only the unheld snapshot goes');
    assert.equal(held.snapshotsInUse, 1, 'the held tip is reported in use; its parent is not a leaf');
    assert.deepEqual((await pruning.list()).map((s) => s.key).sort(), ['base', 'top']);
    await building.release();
    const released = await pruneBuildCache(cache, pruning, { all: true });
    assert.equal(released.snapshotsRemoved, 2);
    assert.deepEqual(await pruning.list(), []);
    cache.close();
  });

  it('--keep-storage forgets the least recently used results until the rest fit', async () => {
    const sn = await openSnapshotter(join(dir, 'sn3'), 'native');
    const cache = new BuildCache(join(dir, 'cache3.db'));
    for (const key of ['old', 'mid', 'new']) {
      await sn.prepare(`a-${key}`);
      const [m] = await sn.mounts(`a-${key}`);
      writeFileSync(join(m.source, 'data'), Buffer.alloc(100_000, 1));
      await sn.commit(key, `a-${key}`);
    }
    cache.putResult('k-old', { kind: 'fs', layers: [{ snapshot: 'old' }] });
    cache.putResult('k-mid', { kind: 'fs', layers: [{ snapshot: 'mid' }] });
    cache.putResult('k-new', { kind: 'fs', layers: [{ snapshot: 'new' }] });
    // Last use: old, then mid, then new (the database keeps milliseconds).
    const db = new DatabaseSync(join(dir, 'cache3.db'));
    for (const [k, t] of [
      ['k-old', 1],
      ['k-mid', 2],
      ['k-new', 3],
    ] as const)
      db.prepare('UPDATE results SET used = ? WHERE key = ?').run(Date.now() - 1000 + t, k);
    db.close();
    const r = await pruneBuildCache(cache, sn, { keepStorage: 250_000 });
    assert.equal(r.resultsRemoved, 1);
    assert.deepEqual((await sn.list()).map((s) => s.key).sort(), ['mid', 'new']);
    const r2 = await pruneBuildCache(cache, sn, { keepStorage: 0 });
    assert.equal(r2.resultsRemoved, 2);
    assert.deepEqual(await sn.list(), []);
    cache.close();
  });
});
