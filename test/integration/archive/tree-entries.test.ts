/**
 * A tree's layer entries made a chunk at a time (archive/tree-entries.ts): the same entries in
 * the same order whatever the chunk size, that order being layer order (layerSortKey: opaque
 * marker, whiteouts, the rest, a directory's children right after it), hard links across chunk
 * edges pointing at the first path, every chunk's attributes attached, and a refused tree
 * failing the layer. Needs root: whiteouts are 0:0 character devices, trusted.* attributes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareLayerPaths, type LayerEntry } from '../../../src/archive/entries.ts';
import { createLayer, readLayerFiles } from '../../../src/archive/layer.ts';
import { collectEntries, treeEntries } from '../../../src/archive/tree-entries.ts';
import { makeSentinel, SECRET } from '../../security/sentinel.ts';

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'ignore' });
}

/** What a layer says of an entry, without where its bytes come from. */
function shown(e: LayerEntry): string {
  const h = e.header;
  const x = Object.keys(h.xattrs ?? {})
    .sort()
    .map((k) => `${k}=${h.xattrs?.[k].toString('hex')}`)
    .join(',');
  return `${h.path} ${h.type} ${h.linkname} ${h.size} ${x}`;
}

describe('tree entries made a chunk at a time', () => {
  let tmp: string;
  let upper: string;
  before(() => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (mknod, trusted.* xattrs)');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-tree-entries-'));
    upper = path.join(tmp, 'upper');
    // An upper directory as overlayfs leaves one: whiteouts, an opaque directory, a file whose
    // name looks like a whiteout, hard links far apart, names with surrogates, attributes.
    for (const d of ['a', 'a/b', 'a.c', 'opq/inner', 'z', 'wide'])
      fs.mkdirSync(path.join(upper, d), { recursive: true });
    for (let i = 0; i < 40; i++)
      fs.writeFileSync(path.join(upper, 'wide', `f${String(i).padStart(2, '0')}`), `${i}`);
    fs.writeFileSync(path.join(upper, 'a/b/one'), 'one');
    fs.linkSync(path.join(upper, 'a/b/one'), path.join(upper, 'z/same-as-one'));
    fs.linkSync(path.join(upper, 'a/b/one'), path.join(upper, 'wide/same-too'));
    fs.writeFileSync(path.join(upper, 'a/.wh.looks-like'), 'a plain file');
    // Names that sort before `.wh.` byte-wise: layer order still puts the whiteouts first.
    fs.writeFileSync(path.join(upper, 'a/!bang'), '');
    fs.writeFileSync(path.join(upper, 'a/.a-first'), '');
    fs.writeFileSync(path.join(upper, 'opq/inner/kept'), 'k');
    fs.writeFileSync(path.join(upper, 'a.c/\u{1F600}'), 'astral');
    fs.writeFileSync(path.join(upper, 'a.c/\uFFFD'), 'bmp');
    fs.symlinkSync('../a/b/one', path.join(upper, 'z/link'));
    for (const gone of ['a/deleted', 'z/also-gone', 'wide/f99'])
      sh('mknod', [path.join(upper, gone), 'c', '0', '0']);
    sh('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'opq')]);
    sh('setfattr', ['-n', 'user.note', '-v', 'hello', path.join(upper, 'wide/f39')]);
    sh('setfattr', ['-n', 'user.note', '-v', 'dir', path.join(upper, 'a/b')]);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('gives the same entries, in layer order, at every chunk size', async () => {
    const whole = await collectEntries(treeEntries(upper, { overlay: true, chunk: 1 << 20 }));
    const paths = whole.map((e) => e.header.path);
    const sorted = [...paths].sort((x, y) => compareLayerPaths(x, y, true));
    assert.deepEqual(paths, sorted);
    for (const chunk of [1, 3, 7, 16]) {
      const parts = await collectEntries(treeEntries(upper, { overlay: true, chunk }));
      assert.deepEqual(parts.map(shown), whole.map(shown), `chunk ${chunk}`);
    }
    // A walk stopped early to wait for the attributes goes on from where it stopped.
    for (const ahead of [1, 5]) {
      const parts = await collectEntries(treeEntries(upper, { overlay: true, chunk: 4, ahead }));
      assert.deepEqual(parts.map(shown), whole.map(shown), `ahead ${ahead}`);
    }
    const by = new Map(whole.map((e) => [e.header.path, e]));
    // Whiteouts first in their directory, then the file that only looks like one, then the rest.
    assert.deepEqual(
      paths.filter((p) => p.startsWith('a/')),
      ['a/.wh.deleted', 'a/.wh.looks-like', 'a/!bang', 'a/.a-first', 'a/b', 'a/b/one'],
    );
    assert.equal(by.get('a/.wh.looks-like')?.header.size, 'a plain file'.length);
    // The opaque marker right after its directory; overlay's own attribute not in the layer.
    assert.equal(paths[paths.indexOf('opq') + 1], 'opq/.wh..wh..opq');
    assert.equal(by.get('opq')?.header.xattrs?.['trusted.overlay.opaque'], undefined);
    // Hard links point at the first path in layer order, however many chunks away.
    assert.equal(by.get('a/b/one')?.header.type, 'file');
    for (const p of ['wide/same-too', 'z/same-as-one']) {
      assert.equal(by.get(p)?.header.type, 'hardlink', p);
      assert.equal(by.get(p)?.header.linkname, 'a/b/one', p);
    }
    assert.equal(by.get('wide/f39')?.header.xattrs?.['user.note']?.toString(), 'hello');
    assert.equal(by.get('a/b')?.header.xattrs?.['user.note']?.toString(), 'dir');
    assert.ok(paths.includes('wide/.wh.f99') && paths.includes('z/.wh.also-gone'));
  });

  it('writes the layer the streamed entries describe', async () => {
    const layer = createLayer(treeEntries(upper, { overlay: true, chunk: 5 }), {
      compression: 'uncompressed',
    });
    const tar = path.join(tmp, 'layer.tar');
    await new Promise<void>((resolve, reject) => {
      const out = fs.createWriteStream(tar);
      layer.stream.pipe(out).on('finish', resolve).on('error', reject);
      layer.stream.on('error', reject);
    });
    await layer.info;
    const files = await readLayerFiles(fs.createReadStream(tar));
    const listed = files.map((f) => f.path.replace(/\/$/, ''));
    const walked = (await collectEntries(treeEntries(upper, { overlay: true }))).map((e) => e.header.path);
    assert.deepEqual(listed, walked);
    assert.equal(files.find((f) => f.path === 'wide/f07')?.size, 1);
  });

  it('writes links a RUN planted to the host as links: no host byte or attribute enters the layer', async () => {
    const sentinel = makeSentinel(path.join(tmp, 'host-sentinel'));
    sh('setfattr', ['-n', 'user.host', '-v', SECRET, path.join(sentinel.dir, 'secret')]);
    const evil = path.join(tmp, 'evil-upper');
    fs.mkdirSync(path.join(evil, 'd'), { recursive: true });
    fs.symlinkSync(sentinel.dir, path.join(evil, 'to-dir'));
    fs.symlinkSync(path.join(sentinel.dir, 'secret'), path.join(evil, 'd', 'to-file'));
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(evil, 'd', `f${i}`), `${i}`);
    const entries = await collectEntries(treeEntries(evil, { overlay: true, chunk: 3, ahead: 2 }));
    assert.deepEqual(
      entries.filter((e) => e.header.type === 'symlink').map((e) => [e.header.path, e.header.linkname]),
      [
        ['d/to-file', path.join(sentinel.dir, 'secret')],
        ['to-dir', sentinel.dir],
      ],
    );
    assert.ok(!entries.some((e) => e.header.path.startsWith('to-dir/')));
    const layer = createLayer(treeEntries(evil, { overlay: true, chunk: 3 }), {
      compression: 'uncompressed',
    });
    const tar = Buffer.concat(await layer.stream.toArray());
    await layer.info;
    assert.ok(!tar.includes(SECRET), "the sentinel's bytes or attribute in the layer");
    sentinel.assertUntouched();
  });

  it('fails the layer when a chunk past the first finds an overlay redirect', async () => {
    const bad = path.join(tmp, 'redirect');
    fs.mkdirSync(path.join(bad, 'late'), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(bad, `early${i}`), '');
    sh('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/elsewhere', path.join(bad, 'late')]);
    const layer = createLayer(treeEntries(bad, { overlay: true, chunk: 2 }), { compression: 'uncompressed' });
    await assert.rejects(layer.stream.toArray(), { code: 'LAYER_OVERLAY_UNSUPPORTED' });
    await assert.rejects(layer.info);
  });
});
