/**
 * Layer codec as root, judged by the kernel and GNU tar: devices, fifos, ownership,
 * trusted/security xattrs round-trip; a real overlayfs upper dir becomes a layer that reproduces
 * the merged view; layers unpacked in 'overlay' mode mount as overlay lowers with the same view.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { applyLayer } from '../../../src/archive/apply.ts';
import { createLayer, diffOverlayUpper, directoryEntries, tarDirectory } from '../../../src/archive/layer.ts';
import { TarWriter } from '../../../src/archive/tar/writer.ts';
import { collectEntries } from '../../../src/archive/tree-entries.ts';
import { describeTree } from '../../../src/archive/treesnap.ts';

const CAP = '0sAQAAAgAEAAD/gAAAAAAAAAAAAAA='; // VFS_CAP_REVISION_2, cap_net_bind_service

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function makeRootTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'dev'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'home/alice'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.mkdirSync(path.join(dir, 'shared'));
  fs.chmodSync(path.join(dir, 'shared'), 0o2775);
  fs.chownSync(path.join(dir, 'shared'), 0, 50);
  sh('mknod', ['-m', '666', path.join(dir, 'dev/null'), 'c', '1', '3']);
  sh('mknod', ['-m', '660', path.join(dir, 'dev/loop0'), 'b', '7', '0']);
  sh('mknod', ['-m', '600', path.join(dir, 'dev/big'), 'c', '511', '70000']);
  sh('mkfifo', ['-m', '640', path.join(dir, 'dev/pipe')]);
  fs.chownSync(path.join(dir, 'home/alice'), 1000, 1000);
  fs.writeFileSync(path.join(dir, 'home/alice/notes'), 'hello');
  fs.chownSync(path.join(dir, 'home/alice/notes'), 1000, 1000);
  fs.writeFileSync(path.join(dir, 'bigids'), 'ids');
  fs.chownSync(path.join(dir, 'bigids'), 3000000, 4000000);
  fs.writeFileSync(path.join(dir, 'ping'), 'ELF');
  fs.chmodSync(path.join(dir, 'ping'), 0o755);
  sh('setfattr', ['-n', 'security.capability', '-v', CAP, path.join(dir, 'ping')]);
  sh('setfattr', ['-n', 'trusted.kiln', '-v', 'secret', path.join(dir, 'ping')]);
  fs.symlinkSync('home/alice/notes', path.join(dir, 'notes'));
  fs.lchownSync(path.join(dir, 'notes'), 1000, 1000);
  fs.writeFileSync(path.join(dir, 'setuid'), 'x');
  fs.chownSync(path.join(dir, 'setuid'), 1000, 0);
  fs.chmodSync(path.join(dir, 'setuid'), 0o4755);
}

describe('layers as root', () => {
  let tmp: string;
  before(() => {
    if (process.getuid?.() !== 0)
      throw new Error('these tests need root (mknod, chown, trusted xattrs, mount)');
    for (const tool of ['getfattr', 'setfattr', 'mknod', 'tar']) {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); // throws loudly when missing
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-layer-root-'));
  });
  after(() => {
    for (const m of ['merged', 'view']) {
      try {
        execFileSync('umount', [path.join(tmp, m)], { stdio: 'ignore' });
      } catch {}
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('devices, fifos, owners, setuid/sticky bits and capabilities survive tarDirectory → applyLayer', async () => {
    const a = path.join(tmp, 'rt-a');
    const b = path.join(tmp, 'rt-b');
    makeRootTree(a);
    await applyLayer(tarDirectory(a, { compression: 'zstd' }), b);
    const want = await describeTree(a);
    assert.deepEqual(await describeTree(b), want);
    assert.equal(
      want.ping.xattrs?.['security.capability'],
      Buffer.from(CAP.slice(2), 'base64').toString('hex'),
    );
    assert.equal(want['dev/big'].rdev, fs.statSync(path.join(a, 'dev/big')).rdev);
  });

  it('GNU tar extracts our layer to the same tree, and we apply its archive to the same tree', async () => {
    const a = path.join(tmp, 'gnu-a');
    const ours = path.join(tmp, 'gnu-ours.tar');
    makeRootTree(a);
    await pipeline(tarDirectory(a), fs.createWriteStream(ours));
    const byGnu = path.join(tmp, 'gnu-extracted');
    fs.mkdirSync(byGnu);
    sh('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', ours, '-C', byGnu]);
    const want = await describeTree(a);
    assert.deepEqual(await describeTree(byGnu), want);

    const theirs = path.join(tmp, 'gnu-theirs.tar');
    sh('tar', [
      '--xattrs',
      '--xattrs-include=*',
      '--numeric-owner',
      '--format=pax',
      '-cf',
      theirs,
      '-C',
      a,
      '.',
    ]);
    const byUs = path.join(tmp, 'gnu-applied');
    await applyLayer(fs.createReadStream(theirs), byUs);
    assert.deepEqual(await describeTree(byUs), want);
  });

  it('an overlayfs upper dir becomes a layer that reproduces the merged view, in both whiteout modes', async () => {
    const lower = path.join(tmp, 'lower');
    const upper = path.join(tmp, 'upper');
    const work = path.join(tmp, 'work');
    const merged = path.join(tmp, 'merged');
    makeRootTree(lower);
    fs.mkdirSync(path.join(lower, 'replace/old'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'replace/old/f'), 'old');
    fs.writeFileSync(path.join(lower, 'replace/keep-not'), 'gone after opaque');
    fs.mkdirSync(path.join(lower, 'remove-dir/x'), { recursive: true });
    for (const d of [upper, work, merged]) fs.mkdirSync(d);
    sh('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    try {
      fs.rmSync(path.join(merged, 'bigids'));
      fs.rmSync(path.join(merged, 'remove-dir'), { recursive: true });
      fs.rmSync(path.join(merged, 'replace'), { recursive: true });
      fs.mkdirSync(path.join(merged, 'replace'));
      fs.writeFileSync(path.join(merged, 'replace/new'), 'new');
      fs.writeFileSync(path.join(merged, 'home/alice/notes'), 'edited');
      fs.chownSync(path.join(merged, 'shared'), 7, 7);
      fs.writeFileSync(path.join(merged, 'added'), 'added');
      fs.linkSync(path.join(merged, 'added'), path.join(merged, 'added-link'));
    } finally {
      sh('umount', [merged]);
    }
    // The merged view, as an independent expectation (remounted read-only).
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${upper}:${lower}`, merged]);
    let want: Awaited<ReturnType<typeof describeTree>>;
    try {
      want = await describeTree(merged);
    } finally {
      sh('umount', [merged]);
    }
    assert.ok(!('replace/old' in want) && 'replace/new' in want && !('bigids' in want));

    const entries = await collectEntries(await diffOverlayUpper(upper));
    const paths = entries.map((e) => e.header.path);
    assert.ok(paths.includes('.wh.bigids') && paths.includes('.wh.remove-dir'));
    assert.ok(paths.includes('replace/.wh..wh..opq'));
    const upperLayer = path.join(tmp, 'upper.layer');
    const l = createLayer(entries, { compression: 'gzip' });
    await pipeline(l.stream, fs.createWriteStream(upperLayer));
    const info = await l.info;

    // 'delete' mode: onto a copy of lower.
    const flat = path.join(tmp, 'flat');
    execFileSync('cp', ['-a', lower, flat]);
    const r = await applyLayer(fs.createReadStream(upperLayer), flat);
    assert.equal(r.diffID, info.diffID);
    assert.deepEqual(await describeTree(flat), want);

    // 'overlay' mode: each layer into its own lower dir, mounted together.
    const l1 = path.join(tmp, 'l1');
    const l2 = path.join(tmp, 'l2');
    const lowerLayer = createLayer(await directoryEntries(lower), { compression: 'uncompressed' });
    await applyLayer(lowerLayer.stream, l1, { whiteouts: 'overlay' });
    await applyLayer(fs.createReadStream(upperLayer), l2, { whiteouts: 'overlay' });
    const wh = fs.lstatSync(path.join(l2, 'bigids'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(
      sh('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(l2, 'replace')]),
      'y',
    );
    const view = path.join(tmp, 'view');
    fs.mkdirSync(view);
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${l2}:${l1}`, view]);
    try {
      assert.deepEqual(await describeTree(view), want);
    } finally {
      sh('umount', [view]);
    }
  });

  it('refuses overlay upper dirs whose data lives elsewhere (metacopy, redirect_dir)', async () => {
    const upper = path.join(tmp, 'metacopy-upper');
    fs.mkdirSync(upper);
    fs.writeFileSync(path.join(upper, 'chowned'), '');
    sh('setfattr', ['-n', 'trusted.overlay.metacopy', '-v', '', path.join(upper, 'chowned')]);
    await assert.rejects(collectEntries(await diffOverlayUpper(upper)), {
      code: 'LAYER_OVERLAY_UNSUPPORTED',
    });
  });

  it('never sets overlayfs xattrs a layer carries (they could redirect or hide lower dirs)', async () => {
    const w = new TarWriter();
    const bytes = w.toArray();
    const evil = {
      'trusted.overlay.opaque': Buffer.from('y'),
      'trusted.overlay.redirect': Buffer.from('/etc'),
    };
    await w.add({ path: './', type: 'directory', xattrs: evil });
    await w.add({ path: 'd', type: 'directory', xattrs: { ...evil, 'user.ok': Buffer.from('1') } });
    await w.finish();
    const target = path.join(tmp, 'no-overlay-xattrs');
    await applyLayer(Readable.from([Buffer.concat(await bytes)]), target, { whiteouts: 'overlay' });
    const dump = sh('getfattr', ['-R', '-d', '-m', '-', '--absolute-names', target]);
    assert.doesNotMatch(dump, /trusted\.overlay/);
    assert.match(dump, /user\.ok="1"/);
  });
});
