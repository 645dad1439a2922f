/**
 * A cold COPY --from reads a stage's extended attributes once: the stage checksum keeps the
 * getfattr trees it read (worker/stage-checksum.ts XattrTrees) under the snapshot the copy
 * reads, and the copy (fileops/copy.ts knownXattrs) applies them instead of reading again. On
 * real overlay snapshots, with the real getfattr/setfattr.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copy } from '../../../src/fileops/copy.ts';
import type { CopyAction } from '../../../src/graph/ops.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { openSnapshotter } from '../../../src/store/snapshots.ts';
import { stageChecksum, XattrTrees } from '../../../src/worker/stage-checksum.ts';
import type { FsState } from '../../../src/worker/state.ts';

let tmp: string;
let sn: Snapshotter;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kiln-copy-from-trees-'));
  sn = await openSnapshotter(join(tmp, 'snapshots'), 'overlay');
});
after(async () => {
  await sn.release();
  await rm(tmp, { recursive: true, force: true });
});

const action: CopyAction = {
  action: 'copy',
  src: 1,
  srcPaths: ['/out'],
  dest: '/dest',
  followSymlinks: true,
  dirContentsOnly: true,
  allowWildcard: true,
  allowEmptyWildcard: false,
  createDestPath: true,
  includePatterns: [],
  excludePatterns: [],
  parents: false,
  unpack: false,
  link: false,
};

let n = 0;
async function layer(fill: (dir: string) => void, parent?: string): Promise<string> {
  const active = `active-${++n}`;
  await sn.prepare(active, parent);
  fill((await sn.ownDir(active)) as string);
  const name = `layer-${n}`;
  await sn.commit(name, active);
  return name;
}

const state = (...snapshots: string[]): FsState => ({
  kind: 'fs',
  layers: snapshots.map((snapshot) => ({ snapshot })),
});

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
    await stageChecksum(sn, undefined, state(bottom, top), [action], new AbortController().signal, trees);
    assert.equal(trees.take(bottom, 'out'), undefined, 'kept under the snapshot the copy reads');
    const tree = trees.take(top, 'out');
    assert.ok(tree, 'the tree the checksum read is kept');
    assert.equal(tree.get('a')?.['user.kiln']?.toString(), 'read-once');
    assert.equal(trees.take(top, 'out'), undefined, 'taken once');

    // The copy applies a known tree instead of reading one: what it sets is what it was handed.
    tree.set('a', { 'user.kiln': Buffer.from('from-the-checksum') });
    const dest = join(tmp, 'dest');
    mkdirSync(dest);
    const view = `view-${++n}`;
    await sn.view(view, top);
    try {
      await sn.withMounted(view, (srcRoot) =>
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
      await sn.remove(view);
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
