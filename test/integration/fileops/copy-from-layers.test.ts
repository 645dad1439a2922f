/**
 * COPY --from links the files of the source's layers instead of copying them (fileops/
 * layer-links.ts) — only a file the copy would reproduce exactly, found without following a
 * symlink a layer holds, the very inode the copy saw, without extended attributes; anything else
 * is copied as before. Here the source view is a layer directory itself (what a one-layer
 * snapshot's read-only bind mount shows), the destination a fresh directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Xattrs } from '../../../src/archive/xattr.ts';
import { copy } from '../../../src/fileops/index.ts';
import { LayerLinks, readLayerTrees } from '../../../src/fileops/layer-links.ts';
import { build, DOCKERFILE_COPY, inspect, tempDir } from './helpers.ts';

const T = 1_600_000_000;
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function dirs(n: number): string[] {
  const out = Array.from({ length: n }, () => tempDir('kiln-layerlinks-'));
  roots.push(...out);
  return out;
}

async function copyFrom(view: string, layers: string[] | LayerLinks, dest: string, src = 'd'): Promise<void> {
  await copy({
    ...DOCKERFILE_COPY,
    srcRoot: view,
    srcPaths: [src],
    destRoot: dest,
    dest: '/out',
    xattrs: true,
    layerLinks: Array.isArray(layers) ? new LayerLinks(layers) : layers,
    destUpper: dest,
  });
}

describe('COPY --from a layered source', () => {
  it('links each plain file from its layer: same inode, owner, mode, time and content', async () => {
    const [layer, dest] = dirs(2);
    build(layer, {
      'd/a': { content: 'a', mode: 0o644, uid: 1000, gid: 1001, mtime: T },
      'd/sub/b': { content: 'b', mode: 0o750, uid: 0, gid: 0, mtime: T },
    });
    await copyFrom(layer, [layer], dest);
    const src = inspect(layer);
    const out = inspect(dest);
    for (const f of ['a', 'sub/b']) {
      assert.equal(out[`out/${f}`].ino, src[`d/${f}`].ino, `${f} was copied, not linked`);
      assert.deepEqual({ ...out[`out/${f}`] }, { ...src[`d/${f}`] });
    }
    assert.equal(out['out/sub/b'].mode, 0o750);
  });

  it('links files of directories spread over layers each from the layer holding it', async () => {
    const [top, lower, dest] = dirs(3);
    // The top layer holds d/x/top and d/z/top; the lower one everything else, d/x and d/z included:
    // each file is looked for in the top layer first, in directories it has and lacks by turns.
    build(top, { 'd/x/top': { content: 't', mtime: T }, 'd/z/top': { content: 't', mtime: T } });
    const lowerFiles: Record<string, { content: string; mtime: number }> = {};
    for (const dir of ['w', 'x', 'y', 'z']) {
      for (const f of ['f1', 'f2', 'f3']) lowerFiles[`d/${dir}/${f}`] = { content: `${dir}${f}`, mtime: T };
    }
    build(lower, lowerFiles);
    // The view: the union, each name the very inode of the layer that shows it.
    const view = tempDir('kiln-layerlinks-view-');
    roots.push(view);
    const shown: [string, string][] = [
      ...Object.keys(lowerFiles).map((f): [string, string] => [f, lower]),
      ['d/x/top', top],
      ['d/z/top', top],
    ];
    for (const [f, layer] of shown) {
      mkdirSync(join(view, f, '..'), { recursive: true });
      linkSync(join(layer, f), join(view, f));
    }
    await copyFrom(view, [top, lower], dest);
    for (const [f, layer] of shown) {
      const out = join(dest, 'out', f.slice(2));
      assert.equal(statSync(out).ino, statSync(join(layer, f)).ino, `${f} linked from its layer`);
    }
  });

  it('copies a file that carries extended attributes (overlay keeps its own there), with its portable ones', async () => {
    const [layer, dest] = dirs(2);
    build(layer, { 'd/x': { content: 'x', mtime: T }, 'd/plain': { content: 'p', mtime: T } });
    const set = spawnSync('setfattr', ['-n', 'user.kiln', '-v', 'yes', join(layer, 'd/x')]);
    assert.equal(set.status, 0, `setfattr: ${set.stderr}`);
    await copyFrom(layer, [layer], dest);
    assert.notEqual(statSync(join(dest, 'out/x')).ino, statSync(join(layer, 'd/x')).ino);
    assert.equal(statSync(join(dest, 'out/plain')).ino, statSync(join(layer, 'd/plain')).ino);
    const got = spawnSync('getfattr', ['--only-values', '-n', 'user.kiln', join(dest, 'out/x')], {
      encoding: 'utf8',
    });
    assert.equal(got.stdout, 'yes');
  });

  it('copies what --chmod or --chown would change, and what a lower layer holds under a different file', async () => {
    const [view, top, lower, dest1, dest2] = dirs(5);
    build(view, { 'd/a': { content: 'new', mtime: T } });
    // The top layer has nothing at d/a; the lower one has another file there (hidden by the view's).
    build(top, { other: 'o' });
    build(lower, { 'd/a': { content: 'old', mtime: T } });
    await copyFrom(view, [top, lower], dest1);
    assert.equal(inspect(dest1)['out/a'].content, 'new');
    assert.notEqual(statSync(join(dest1, 'out/a')).ino, statSync(join(lower, 'd/a')).ino);
    await copy({
      ...DOCKERFILE_COPY,
      srcRoot: view,
      srcPaths: ['d'],
      destRoot: dest2,
      dest: '/out',
      chmod: '600',
      layerLinks: new LayerLinks([view]),
      destUpper: dest2,
    });
    assert.notEqual(statSync(join(dest2, 'out/a')).ino, statSync(join(view, 'd/a')).ino);
    assert.equal(statSync(join(view, 'd/a')).mode & 0o777, 0o644, 'the source changed');
  });

  it('never follows a symlink a layer holds, even to the very file the copy saw', async () => {
    const [view, layer, outside, dest] = dirs(4);
    build(view, { 'd/f': { content: 'seen', mtime: T } });
    // A sentinel outside the layer holds another name for the same inode; the layer's `d` points
    // there. Following it would find the right inode by the wrong road.
    mkdirSync(join(outside, 'd'));
    linkSync(join(view, 'd/f'), join(outside, 'd/f'));
    symlinkSync(join(outside, 'd'), join(layer, 'd'));
    await copyFrom(view, [layer], dest);
    assert.equal(inspect(dest)['out/f'].content, 'seen');
    assert.notEqual(
      statSync(join(dest, 'out/f')).ino,
      statSync(join(view, 'd/f')).ino,
      'linked through the symlink',
    );
    assert.equal(statSync(join(outside, 'd/f')).nlink, 2, 'a link was made through the symlink');
  });

  it('never follows a symlink below a real directory of a layer, between directories it links from', async () => {
    const [view, layer, outside, dest] = dirs(4);
    // The layer's d/a/real and d/b are real directories; d/a/sub points at a sentinel that holds
    // another name of the view's d/a/sub/f. The copy walks d/a/real, d/a/sub, d/b in turn: each
    // parent is reached from the directories kept open for the one before it.
    build(layer, {
      'd/a/real/f': { content: 'r', mtime: T },
      'd/b/f': { content: 'b', mtime: T },
    });
    mkdirSync(join(view, 'd/a/real'), { recursive: true });
    mkdirSync(join(view, 'd/a/sub'), { recursive: true });
    mkdirSync(join(view, 'd/b'), { recursive: true });
    linkSync(join(layer, 'd/a/real/f'), join(view, 'd/a/real/f'));
    linkSync(join(layer, 'd/b/f'), join(view, 'd/b/f'));
    build(view, { 'd/a/sub/f': { content: 'seen', mtime: T } });
    mkdirSync(join(outside, 'sub'));
    linkSync(join(view, 'd/a/sub/f'), join(outside, 'sub/f'));
    symlinkSync(join(outside, 'sub'), join(layer, 'd/a/sub'));
    await copyFrom(view, [layer], dest);
    assert.equal(statSync(join(dest, 'out/a/real/f')).ino, statSync(join(layer, 'd/a/real/f')).ino);
    assert.equal(statSync(join(dest, 'out/b/f')).ino, statSync(join(layer, 'd/b/f')).ino);
    assert.equal(inspect(dest)['out/a/sub/f'].content, 'seen');
    assert.notEqual(statSync(join(dest, 'out/a/sub/f')).ino, statSync(join(view, 'd/a/sub/f')).ino);
    assert.equal(statSync(join(outside, 'sub/f')).nlink, 2, 'a link was made through the symlink');
  });

  it('links the files of a tree deeper than the directories it keeps open (256)', async () => {
    const [layer, dest] = dirs(2);
    const files: Record<string, { content: string; mtime: number }> = {};
    let dir = 'd';
    for (let depth = 0; depth < 300; depth++) {
      dir += `/${depth % 10}`;
      if (depth % 50 === 0 || depth === 299) files[`${dir}/f`] = { content: `${depth}`, mtime: T };
    }
    build(layer, files);
    await copyFrom(layer, [layer], dest);
    for (const f of Object.keys(files)) {
      const out = join(dest, 'out', f.slice(2));
      assert.equal(statSync(out).ino, statSync(join(layer, f)).ino, `${f} linked from its layer`);
    }
  });

  it('takes attribute trees read ahead (readLayerTrees) instead of reading them again', async () => {
    const [layer, other, planted, outside, dest1, dest2] = dirs(6);
    build(layer, { 'd/x': { content: 'x', mtime: T }, 'd/plain': { content: 'p', mtime: T } });
    build(other, { 'e/f': { content: 'f', mtime: T } });
    // A layer whose `d` is a symlink to a sentinel outside every layer, which has attributes.
    build(outside, { 'd/secret': { content: 's', mtime: T } });
    symlinkSync(join(outside, 'd'), join(planted, 'd'));
    for (const f of [join(layer, 'd/x'), join(outside, 'd/secret')]) {
      const set = spawnSync('setfattr', ['-n', 'user.kiln', '-v', 'yes', f]);
      assert.equal(set.status, 0, `setfattr: ${set.stderr}`);
    }
    // Read ahead: the tree of each layer that holds `d` through real directories, only those:
    // nothing of the sentinel is read through the planted link.
    const read = await readLayerTrees([other, planted, layer], 'd');
    assert.deepEqual(
      read.map(([dir]) => dir),
      [layer],
    );
    assert.deepEqual([...read[0][1].keys()], ['x']);
    // What the copy takes is what it uses: the tree read ahead says d/x has attributes (not
    // linked); a tree saying nothing of it would have it linked, and a prefetch before the copy
    // (as a step starts one) changes nothing.
    const asked: string[] = [];
    const links = (tree: Map<string, Xattrs>) =>
      new LayerLinks([layer], (dir, rel) => {
        asked.push(`${dir === layer ? 'layer' : dir}:${rel}`);
        return tree;
      });
    const ahead = links(read[0][1]);
    ahead.prefetch('d');
    await copyFrom(layer, ahead, dest1);
    assert.notEqual(statSync(join(dest1, 'out/x')).ino, statSync(join(layer, 'd/x')).ino);
    assert.equal(statSync(join(dest1, 'out/plain')).ino, statSync(join(layer, 'd/plain')).ino);
    await copyFrom(layer, links(new Map()), dest2);
    assert.equal(
      statSync(join(dest2, 'out/x')).ino,
      statSync(join(layer, 'd/x')).ino,
      'the kept tree was not used',
    );
    assert.deepEqual(asked, ['layer:d', 'layer:d']);
  });
});

/**
 * One file, the step's only action (`COPY --from=build /app/server /server`): linked into a
 * directory that was there before the copy too, when it is a real directory of the upper dir and
 * neither the view nor the upper dir has anything at the name. Here the view (destRoot) and the
 * upper dir are two directories, as an overlay mount and its upper dir are.
 */
describe('COPY --from of one file into an existing directory', () => {
  async function copyOne(layer: string, view: string, upper: string, dest: string, onlyAction = true) {
    await copy({
      ...DOCKERFILE_COPY,
      srcRoot: layer,
      srcPaths: ['big.bin'],
      destRoot: view,
      dest,
      xattrs: true,
      layerLinks: new LayerLinks([layer]),
      destUpper: upper,
      onlyAction,
    });
  }

  it('links it into the upper dir when it is the only action, copies it otherwise', async () => {
    const [layer, view, upper, view2, upper2] = dirs(5);
    build(layer, { 'big.bin': { content: 'big', mode: 0o644, mtime: T } });
    await copyOne(layer, view, upper, '/big.bin');
    assert.equal(statSync(join(upper, 'big.bin')).ino, statSync(join(layer, 'big.bin')).ino);
    assert.deepEqual({ ...inspect(upper)['big.bin'] }, { ...inspect(layer)['big.bin'] });
    await copyOne(layer, view2, upper2, '/big.bin', false);
    assert.equal(inspect(view2)['big.bin'].content, 'big');
    assert.notEqual(statSync(join(view2, 'big.bin')).ino, statSync(join(layer, 'big.bin')).ino);
  });

  it('copies the files of a directory into a directory that was there (only one file is linked there)', async () => {
    const [layer, view, upper] = dirs(3);
    build(layer, { 'dir/f': { content: 'f', mtime: T } });
    build(view, { opt: { dir: true } });
    mkdirSync(join(upper, 'opt'));
    await copy({
      ...DOCKERFILE_COPY,
      srcRoot: layer,
      srcPaths: ['dir'],
      destRoot: view,
      dest: '/opt/',
      layerLinks: new LayerLinks([layer]),
      destUpper: upper,
      onlyAction: true,
    });
    assert.equal(inspect(view)['opt/f'].content, 'f');
    assert.equal(statSync(join(layer, 'dir/f')).nlink, 1, 'linked behind the mount');
  });

  it('copies when the name is taken in the view or in the upper dir (a whiteout, a file)', async () => {
    const [layer, view, upper, view2, upper2] = dirs(5);
    build(layer, { 'big.bin': { content: 'big', mtime: T } });
    // Something in the view: replaced by a copy through the view, the upper dir untouched.
    build(view, { 'big.bin': 'old' });
    await copyOne(layer, view, upper, '/big.bin');
    assert.equal(inspect(view)['big.bin'].content, 'big');
    assert.notEqual(statSync(join(view, 'big.bin')).ino, statSync(join(layer, 'big.bin')).ino);
    assert.equal(inspect(upper)['big.bin'], undefined);
    // Something in the upper dir only (what a whiteout is to the view: nothing there).
    build(upper2, { 'big.bin': 'whiteout' });
    await copyOne(layer, view2, upper2, '/big.bin');
    assert.equal(inspect(upper2)['big.bin'].content, 'whiteout');
    assert.equal(inspect(view2)['big.bin'].content, 'big');
  });

  it('never links through a symlink in the upper dir, nor into a directory the upper dir lacks', async () => {
    const [layer, view, upper, outside, view2, upper2] = dirs(6);
    build(layer, { 'big.bin': { content: 'big', mtime: T } });
    build(view, { 'opt/keep': 'k' });
    // The upper dir's `opt` leads to a sentinel outside: a link made through it would land there.
    symlinkSync(outside, join(upper, 'opt'));
    await copyOne(layer, view, upper, '/opt/big.bin');
    assert.equal(inspect(view)['opt/big.bin'].content, 'big');
    assert.deepEqual(Object.keys(inspect(outside)), [], 'a link was made through the symlink');
    assert.equal(statSync(join(layer, 'big.bin')).nlink, 1);
    // `opt` exists in the view (a lower layer's) but not in the upper dir: copied through the view.
    build(view2, { 'opt/keep': 'k' });
    await copyOne(layer, view2, upper2, '/opt/big.bin');
    assert.equal(inspect(view2)['opt/big.bin'].content, 'big');
    assert.equal(statSync(join(layer, 'big.bin')).nlink, 1);
  });
});
