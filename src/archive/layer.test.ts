/**
 * Layers end to end: deterministic single-pass creation (digests checked independently),
 * tarDirectory → applyLayer reproduces a tree, diffDirectories → applyLayer reproduces the upper.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { applyLayer } from './apply.ts';
import { diffDirectories } from './diff.ts';
import {
  type CreateLayerOptions,
  createLayer,
  type LayerInfo,
  readLayerFiles,
  tarDirectory,
} from './layer.ts';
import { collectEntries, directoryEntries } from './tree-entries.ts';
import { describeTree } from './treesnap.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layerOf(
  dir: string,
  options: CreateLayerOptions = {},
): Promise<{ blob: Buffer; info: LayerInfo }> {
  const l = createLayer(await directoryEntries(dir), options);
  const blob = Buffer.concat(await l.stream.toArray());
  return { blob, info: await l.info };
}

function makeTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'etc/conf.d'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'usr/bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'empty'), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'kiln\n');
  fs.writeFileSync(path.join(dir, 'etc/conf.d/a.conf'), 'a=1\n');
  fs.writeFileSync(path.join(dir, 'usr/bin/tool'), randomBytes(3 * 1024 * 1024 + 123)); // streamed path
  fs.chmodSync(path.join(dir, 'usr/bin/tool'), 0o755);
  fs.writeFileSync(path.join(dir, 'usr/bin/suid'), '#!/bin/sh\n');
  fs.chmodSync(path.join(dir, 'usr/bin/suid'), 0o4711);
  fs.linkSync(path.join(dir, 'usr/bin/tool'), path.join(dir, 'usr/bin/tool-alias'));
  fs.symlinkSync('tool', path.join(dir, 'usr/bin/sym'));
  fs.symlinkSync('/etc/hostname', path.join(dir, 'abs-link'));
  fs.symlinkSync('dangling/target', path.join(dir, 'dangling'));
  fs.writeFileSync(path.join(dir, 'with space & ünïcode'), 'x');
  fs.writeFileSync(path.join(dir, `${'long-name-'.repeat(20)}.txt`), 'long');
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  execFileSync('setfattr', ['-n', 'user.kiln', '-v', '0x00ff10', path.join(dir, 'etc/hostname')]);
  execFileSync('setfattr', ['-n', 'user.dir', '-v', 'yes', path.join(dir, 'etc')]);
  for (const [i, p] of ['etc/hostname', 'usr/bin/suid', 'with space & ünïcode'].entries()) {
    fs.utimesSync(path.join(dir, p), 1600000000 + i, 1600000000 + i);
  }
}

describe('layers', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-layer-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('digest and diffID are the sha256 of the blob and of the uncompressed tar, in one pass', async () => {
    const dir = path.join(tmp, 'digests');
    makeTree(dir);
    for (const compression of ['gzip', 'zstd', 'uncompressed'] as const) {
      const { blob, info } = await layerOf(dir, { compression });
      assert.equal(info.digest, sha(blob));
      assert.equal(info.size, blob.length);
      const tar =
        compression === 'gzip'
          ? zlib.gunzipSync(blob)
          : compression === 'zstd'
            ? zlib.zstdDecompressSync(blob)
            : blob;
      assert.equal(info.diffID, sha(tar));
      assert.equal(info.uncompressedSize, tar.length);
      assert.equal(info.compression, compression);
    }
  });

  it("reads a layer's small files without updating their atime (as a fresh copy leaves them)", async () => {
    const dir = path.join(tmp, 'atime');
    makeTree(dir);
    // atime not after mtime: a plain read updates it on a relatime mount (this machine's).
    const file = path.join(dir, 'etc/conf.d/a.conf');
    fs.utimesSync(file, 1650000000, 1650000000);
    const control = path.join(dir, 'control');
    fs.writeFileSync(control, 'c');
    fs.utimesSync(control, 1650000000, 1650000000);
    fs.readFileSync(control);
    assert.notEqual(fs.statSync(control).atimeMs, 1650000000_000, 'this mount never updates atime');
    fs.rmSync(control);
    await layerOf(dir);
    assert.equal(fs.statSync(file).atimeMs, 1650000000_000);
  });

  it('is deterministic: same tree, same digest; SOURCE_DATE_EPOCH clamps mtimes', async () => {
    const dir = path.join(tmp, 'determinism');
    makeTree(dir);
    const a = await layerOf(dir);
    const b = await layerOf(dir);
    assert.equal(a.info.digest, b.info.digest);
    const epoch = 1500000000;
    const c = await layerOf(dir, { sourceDateEpoch: epoch });
    fs.utimesSync(path.join(dir, 'etc/conf.d/a.conf'), 1700000000, 1700000000);
    const d = await layerOf(dir, { sourceDateEpoch: epoch });
    assert.equal(c.info.digest, d.info.digest);
    const files = await readLayerFiles(Readable.from([d.blob]));
    assert.ok(files.every((f) => f.mtime <= epoch));
    const paths = files.map((f) => f.path);
    assert.deepEqual(paths, [...paths].sort());
  });

  it('readLayerFiles lists types, modes, links and content digests; hardlinks stay hardlinks', async () => {
    const dir = path.join(tmp, 'listing');
    makeTree(dir);
    const { blob } = await layerOf(dir, { compression: 'zstd' });
    const files = new Map((await readLayerFiles(Readable.from([blob]))).map((f) => [f.path, f]));
    assert.equal(files.get('usr/bin/tool')?.digest, sha(fs.readFileSync(path.join(dir, 'usr/bin/tool'))));
    assert.equal(files.get('usr/bin/tool-alias')?.type, 'hardlink');
    assert.equal(files.get('usr/bin/tool-alias')?.linkname, 'usr/bin/tool');
    assert.equal(files.get('usr/bin/suid')?.mode, 0o4711);
    assert.equal(files.get('usr/bin/sym')?.linkname, 'tool');
    assert.equal(files.get('fifo')?.type, 'fifo');
    assert.equal(files.get('empty')?.type, 'directory');
    assert.equal(files.get('etc/hostname')?.xattrs['user.kiln'].toString('hex'), '00ff10');
    // GNU tar agrees on the listing.
    const gnu = execFileSync('tar', ['-tf', '-'], { input: zlib.zstdDecompressSync(blob) }).toString();
    assert.deepEqual(
      gnu
        .trimEnd()
        .split('\n')
        .map((p) => p.replace(/\/$/, '')),
      [...files.keys()],
    );
  });

  it('tarDirectory(a) applied to an empty directory gives an identical tree', async () => {
    const a = path.join(tmp, 'rt-a');
    const b = path.join(tmp, 'rt-b');
    makeTree(a);
    const r = await applyLayer(tarDirectory(a, { compression: 'gzip' }), b);
    assert.deepEqual(await describeTree(b), await describeTree(a));
    const { info } = await layerOf(a, { compression: 'gzip' });
    assert.equal(r.diffID, info.diffID);
    assert.equal(r.size, info.uncompressedSize);
  });

  it('diffDirectories + applyLayer reproduces the upper tree from the lower one', async () => {
    const lower = path.join(tmp, 'diff-lower');
    const upper = path.join(tmp, 'diff-upper');
    const target = path.join(tmp, 'diff-target');
    makeTree(lower);
    fs.mkdirSync(path.join(lower, 'was-file-now-dir'));
    fs.writeFileSync(path.join(lower, 'was-dir-now-file'), 'f');
    fs.rmSync(path.join(lower, 'was-file-now-dir'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'was-file-now-dir'), 'file');
    fs.mkdirSync(path.join(lower, 'gone-dir/deeper'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'gone-dir/deeper/x'), 'x');
    fs.rmSync(path.join(lower, 'was-dir-now-file'));
    fs.mkdirSync(path.join(lower, 'was-dir-now-file'));
    fs.writeFileSync(path.join(lower, 'was-dir-now-file/child'), 'c');
    fs.writeFileSync(path.join(lower, 'linked-later'), 'l');
    execFileSync('cp', ['-a', lower, upper]);
    execFileSync('cp', ['-a', lower, target]);

    fs.writeFileSync(path.join(upper, 'etc/hostname'), 'changed\n'); // content + mtime
    fs.rmSync(path.join(upper, 'etc/conf.d/a.conf'));
    fs.rmSync(path.join(upper, 'gone-dir'), { recursive: true });
    fs.rmSync(path.join(upper, 'was-file-now-dir'));
    fs.mkdirSync(path.join(upper, 'was-file-now-dir'));
    fs.writeFileSync(path.join(upper, 'was-file-now-dir/new'), 'n');
    fs.rmSync(path.join(upper, 'was-dir-now-file'), { recursive: true });
    fs.writeFileSync(path.join(upper, 'was-dir-now-file'), 'now a file');
    fs.chmodSync(path.join(upper, 'usr/bin/suid'), 0o755);
    fs.linkSync(path.join(upper, 'usr/bin/suid'), path.join(upper, 'usr/bin/suid-link'));
    fs.linkSync(path.join(upper, 'linked-later'), path.join(upper, 'new-link-to-unchanged'));
    fs.rmSync(path.join(upper, 'usr/bin/sym'));
    fs.symlinkSync('elsewhere', path.join(upper, 'usr/bin/sym'));
    execFileSync('setfattr', ['-n', 'user.dir', '-v', 'changed', path.join(upper, 'etc')]);
    fs.mkdirSync(path.join(upper, 'new/nested'), { recursive: true });
    fs.writeFileSync(path.join(upper, 'new/nested/file'), randomBytes(2 * 1024 * 1024));
    // Same size and same whole-second mtime, different bytes: found by content comparison.
    const same = path.join(upper, 'with space & ünïcode');
    const st = fs.statSync(same);
    fs.writeFileSync(same, 'y');
    fs.utimesSync(same, st.atime, st.mtime);

    const entries = await diffDirectories(lower, upper);
    const paths = entries.map((e) => e.header.path);
    assert.ok(paths.includes('etc/conf.d/.wh.a.conf'));
    assert.ok(paths.includes('.wh.gone-dir'));
    assert.ok(paths.includes('was-file-now-dir/.wh..wh..opq'));
    assert.ok(!paths.includes('usr/bin/tool'), 'an unchanged file is not in the diff');
    assert.ok(!paths.includes('gone-dir/deeper/x'));
    // A file that only gained a hard link is in the layer with its new name, as overlay has it.
    assert.ok(paths.includes('linked-later') && paths.includes('new-link-to-unchanged'));
    const layer = createLayer(entries, { compression: 'gzip' });
    const result = await applyLayer(layer.stream, target);
    assert.equal(result.diffID, (await layer.info).diffID);
    assert.deepEqual(await describeTree(target), await describeTree(upper));
  });

  it('packs many small files around streamed ones, byte for byte as GNU tar reads them', async () => {
    const dir = path.join(tmp, 'many');
    for (let i = 0; i < 3000; i++) {
      fs.mkdirSync(path.join(dir, `d${i % 7}`), { recursive: true });
      fs.writeFileSync(path.join(dir, `d${i % 7}`, `f${i}`), randomBytes(i % 1500));
    }
    fs.writeFileSync(path.join(dir, 'd3', 'big'), randomBytes((2 << 20) + 7));
    const { blob } = await layerOf(dir, { compression: 'uncompressed' });
    const files = await readLayerFiles(Readable.from([blob]));
    const regular = files.filter((f) => f.type === 'file');
    assert.equal(regular.length, 3001);
    for (const f of regular) assert.equal(f.digest, sha(fs.readFileSync(path.join(dir, f.path))), f.path);
    const listed = execFileSync('tar', ['-tf', '-'], { input: blob, maxBuffer: 64 << 20 }).toString();
    assert.equal(listed.trim().split('\n').length, files.length);
  });

  it('fails with LAYER_SOURCE_CHANGED when a file is not the size it was listed with', async () => {
    const dir = path.join(tmp, 'changed');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'a'), 'four');
    for (const now of ['grown!', 'sh']) {
      const entries = await collectEntries(await directoryEntries(dir));
      fs.writeFileSync(path.join(dir, 'a'), now);
      const l = createLayer(entries, { compression: 'uncompressed', presorted: true });
      await assert.rejects(l.stream.toArray(), { code: 'LAYER_SOURCE_CHANGED' });
      fs.writeFileSync(path.join(dir, 'a'), 'four');
    }
  });

  it('fails with a stable code when a source directory is missing', async () => {
    await assert.rejects(directoryEntries(path.join(tmp, 'nope')), { code: 'LAYER_SOURCE_MISSING' });
  });

  it('settles info with LAYER_ABORTED when the consumer abandons the stream', async () => {
    const dir = path.join(tmp, 'abandon');
    makeTree(dir);
    const l = createLayer(await directoryEntries(dir));
    await new Promise((resolve) => l.stream.once('readable', resolve));
    l.stream.destroy(); // no error, just gone
    await assert.rejects(l.info, { code: 'LAYER_ABORTED' });
    const m = createLayer(await directoryEntries(dir));
    for await (const _ of m.stream) break; // the iterator destroys the stream with an AbortError
    await assert.rejects(m.info);
  });
});
