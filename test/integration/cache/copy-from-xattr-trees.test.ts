/**
 * A cold COPY --from reads a stage's extended attributes once: the stage checksum keeps the
 * getfattr trees it read (worker/stage-checksum.ts XattrTrees) under the snapshot the copy
 * reads, and the copy (fileops/copy.ts knownXattrs) applies them instead of reading again. On
 * real overlay snapshots, with the real getfattr/setfattr.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { copy } from '../../../src/fileops/copy.ts';
import type { CopyAction } from '../../../src/graph/ops.ts';
import { stageChecksum, XattrTrees } from '../../../src/worker/stage-checksum.ts';
import { copyFromAction, fsState, stageLayers } from './stage-layers.ts';

const layers = stageLayers('kiln-copy-from-trees-');
const { layer } = layers;

const action: CopyAction = copyFromAction(['/out']);
const state = fsState;

describe('a cold COPY --from reads extended attributes once', () => {
  it('keeps the checksum’s trees for the top snapshot, once, and the copy applies them', async () => {
    const bottom = await layer((d) => {
      mkdirSync(join(d, 'out'));
      writeFileSync(join(d, 'out', 'a'), 'a\n');
      execFileSync('setfattr', ['-n', 'user.kiln', '-v', 'read-once', join(d, 'out', 'a')]);
    });
    // A layer above that leaves /out alone: the checksum reads `bottom`, the copy reads `top`.
    const top = await layer((d) => writeFileSync(join(d, 'other'), 'x\n'), bottom);
    const trees = new XattrTrees();
    await stageChecksum(
      layers.sn,
      undefined,
      state(bottom, top),
      [action],
      new AbortController().signal,
      trees,
    );
    assert.equal(trees.take(bottom, 'out'), undefined, 'kept under the snapshot the copy reads');
    const tree = trees.take(top, 'out');
    assert.ok(tree, 'the tree the checksum read is kept');
    assert.equal(tree.get('a')?.['user.kiln']?.toString(), 'read-once');
    assert.equal(trees.take(top, 'out'), undefined, 'taken once');

    // The copy applies a known tree instead of reading one: what it sets is what it was handed.
    tree.set('a', { 'user.kiln': Buffer.from('from-the-checksum') });
    const dest = join(layers.tmp, 'dest');
    mkdirSync(dest);
    const view = 'view-1';
    await layers.sn.view(view, top);
    try {
      await layers.sn.withMounted(view, (srcRoot) =>
        copy({
          srcRoot,
          srcPaths: ['out'],
          destRoot: dest,
          dest: '/dest/',
          xattrs: true,
          knownXattrs: (rel) => (rel === 'out' ? tree : undefined),
        }),
      );
    } finally {
      await layers.sn.remove(view);
    }
    const dump = execFileSync('getfattr', ['-d', '-m', 'user.', join(dest, 'dest', 'a')], {
      encoding: 'utf8',
    });
    assert.match(dump, /user\.kiln="from-the-checksum"/);
  });

  it('keeps no tree over its bound, nor more trees or bytes than its bounds', () => {
    const trees = new XattrTrees();
    const value = { 'user.x': Buffer.alloc(1 << 10) };
    const big = new Map(Array.from({ length: 5_000 }, (_, i) => [`f${i}`, value]));
    trees.keep('s', 'big', big);
    assert.equal(trees.take('s', 'big'), undefined, 'over 4 MiB: not kept');
    for (let i = 0; i < 65; i++) trees.keep('s', `d${i}`, new Map());
    assert.equal(trees.take('s', 'd0'), undefined, 'the oldest went first');
    assert.ok(trees.take('s', 'd64'));
    const three = new Map(Array.from({ length: 3_000 }, (_, i) => [`f${i}`, value]));
    for (let i = 0; i < 6; i++) trees.keep('s', `m${i}`, three);
    assert.equal(trees.take('s', 'm0'), undefined, 'past 16 MiB in all, the oldest went');
    assert.ok(trees.take('s', 'm5'));
  });
});
