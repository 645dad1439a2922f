/**
 * applyLayer against hostile layers: whatever the tar says, nothing outside the target changes.
 * Each case applies a crafted layer to `root` and checks that the sentinel directory next to it
 * (and a secret file inside) is byte-for-byte and metadata-for-metadata untouched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { applyLayer } from './apply.ts';
import type { TarHeaderInput } from './tar/header.ts';
import { TarWriter } from './tar/writer.ts';
import { describeTree } from './treesnap.ts';

async function tarOf(entries: [TarHeaderInput, string?][]): Promise<Buffer> {
  const w = new TarWriter();
  const collected = w.toArray();
  for (const [h, content] of entries) {
    await w.add({ mtime: 1600000000, ...h }, content === undefined ? undefined : Buffer.from(content));
  }
  await w.finish();
  return Buffer.concat(await collected);
}

describe('applyLayer confines every write to the target directory', () => {
  let tmp: string;
  let root: string;
  let sentinel: string;
  let before: unknown;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-apply-'));
    root = path.join(tmp, 'root');
    sentinel = path.join(tmp, 'sentinel');
    fs.mkdirSync(root);
    fs.mkdirSync(sentinel);
    fs.writeFileSync(path.join(sentinel, 'secret'), 'do not touch');
    fs.mkdirSync(path.join(sentinel, 'sub'));
    fs.writeFileSync(path.join(sentinel, 'sub', 'inner'), 'inner');
    before = {
      tree: await describeTree(sentinel),
      dir: fs.statSync(sentinel).mtimeMs,
      tmp: fs.readdirSync(tmp),
    };
  });

  afterEach(async () => {
    const after = {
      tree: await describeTree(sentinel),
      dir: fs.statSync(sentinel).mtimeMs,
      tmp: fs.readdirSync(tmp),
    };
    assert.deepEqual(after, before, 'the sentinel next to the target changed');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const apply = async (entries: [TarHeaderInput, string?][]) =>
    applyLayer(Readable.from([await tarOf(entries)]), root);

  it('refuses ".." components in entry names', async () => {
    await assert.rejects(apply([[{ path: '../sentinel/secret', type: 'file' }, 'pwned']]), {
      code: 'LAYER_UNSAFE_PATH',
    });
    await assert.rejects(apply([[{ path: 'a/../../sentinel/x', type: 'file' }, 'pwned']]), {
      code: 'LAYER_UNSAFE_PATH',
    });
  });

  it('treats absolute entry names as relative to the target', async () => {
    await apply([[{ path: `${sentinel}/secret`, type: 'file' }, 'inside']]);
    assert.equal(fs.readFileSync(path.join(root, sentinel, 'secret'), 'utf8'), 'inside');
  });

  it('resolves entries under a symlink that points outside inside the target instead', async () => {
    await apply([
      [{ path: 'rel', type: 'symlink', linkname: '../sentinel' }],
      [{ path: 'abs', type: 'symlink', linkname: sentinel }],
      [{ path: 'dotdot', type: 'symlink', linkname: '../../../../../../..' }],
      [{ path: 'rel/secret', type: 'file' }, 'pwned-rel'],
      [{ path: 'abs/secret', type: 'file' }, 'pwned-abs'],
      [{ path: 'dotdot/escaped', type: 'file' }, 'pwned-dotdot'],
    ]);
    assert.equal(fs.readFileSync(path.join(root, 'sentinel', 'secret'), 'utf8'), 'pwned-rel');
    assert.equal(fs.readFileSync(path.join(root, sentinel, 'secret'), 'utf8'), 'pwned-abs');
    assert.equal(fs.readFileSync(path.join(root, 'escaped'), 'utf8'), 'pwned-dotdot');
    assert.equal(fs.readlinkSync(path.join(root, 'abs')), sentinel);
  });

  it('replaces a planted symlink rather than writing through it', async () => {
    await apply([
      [{ path: 'link', type: 'symlink', linkname: path.join(sentinel, 'secret') }],
      [{ path: 'dirlink', type: 'symlink', linkname: sentinel }],
    ]);
    await apply([
      [{ path: 'link', type: 'file', mode: 0o666 }, 'replaced'],
      [{ path: 'dirlink', type: 'directory', mode: 0o777 }],
    ]);
    assert.equal(fs.readFileSync(path.join(root, 'link'), 'utf8'), 'replaced');
    assert.ok(fs.lstatSync(path.join(root, 'dirlink')).isDirectory());
  });

  it('does not follow a directory swapped for an outward symlink later in the same layer', async () => {
    await apply([
      [{ path: 'd', type: 'directory', mode: 0o700, xattrs: { 'user.k': Buffer.from('v') } }],
      [{ path: 'd/f', type: 'file', xattrs: { 'user.k': Buffer.from('v') } }, 'f'],
      [{ path: 'd', type: 'symlink', linkname: sentinel }],
      [{ path: 'd/secret', type: 'file' }, 'pwned'],
      [{ path: 'd/sub', type: 'directory', mode: 0o777, mtime: 1 }],
    ]);
    assert.equal(fs.readFileSync(path.join(root, sentinel, 'secret'), 'utf8'), 'pwned');
  });

  it('stops at symlink loops and at files used as directories', async () => {
    await assert.rejects(
      apply([
        [{ path: 'x', type: 'symlink', linkname: 'y' }],
        [{ path: 'y', type: 'symlink', linkname: '/x' }],
        [{ path: 'x/f', type: 'file' }, 'f'],
      ]),
      { code: 'LAYER_SYMLINK_LOOP' },
    );
    await assert.rejects(
      apply([
        [{ path: 'plain', type: 'file' }, 'p'],
        [{ path: 'plain/f', type: 'file' }, 'f'],
      ]),
      { code: 'LAYER_NOT_A_DIRECTORY' },
    );
  });

  it('refuses hardlinks to paths outside the target', async () => {
    await assert.rejects(apply([[{ path: 'hl', type: 'hardlink', linkname: '../sentinel/secret' }]]), {
      code: 'LAYER_UNSAFE_PATH',
    });
    await assert.rejects(
      apply([[{ path: 'hl', type: 'hardlink', linkname: path.join(sentinel, 'secret') }]]),
      {
        code: 'LAYER_INVALID_LINK',
      },
    );
    await assert.rejects(
      apply([
        [{ path: 'out', type: 'symlink', linkname: sentinel }],
        [{ path: 'hl', type: 'hardlink', linkname: 'out/secret' }],
      ]),
      { code: 'LAYER_INVALID_LINK' },
    );
  });

  it('a hardlink to a symlink links the symlink itself, never its outside target', async () => {
    await apply([
      [{ path: 'sl', type: 'symlink', linkname: path.join(sentinel, 'secret') }],
      [{ path: 'hl', type: 'hardlink', linkname: 'sl' }],
    ]);
    assert.ok(fs.lstatSync(path.join(root, 'hl')).isSymbolicLink());
    fs.rmSync(path.join(root, 'hl'));
  });

  it('refuses or confines whiteouts that name paths outside', async () => {
    await assert.rejects(apply([[{ path: '../.wh.sentinel', type: 'file' }]]), { code: 'LAYER_UNSAFE_PATH' });
    await assert.rejects(apply([[{ path: '.wh..', type: 'file' }]]), { code: 'LAYER_UNSAFE_PATH' });
    await apply([
      [{ path: 'out', type: 'symlink', linkname: sentinel }],
      [{ path: 'rel', type: 'symlink', linkname: '../sentinel' }],
    ]);
    await apply([
      [{ path: 'out/.wh.secret', type: 'file' }],
      [{ path: 'out/.wh..wh..opq', type: 'file' }],
      [{ path: 'rel/.wh.sub', type: 'file' }],
      [{ path: 'rel/sub/.wh..wh..opq', type: 'file' }],
    ]);
  });

  it('whiteouts and opaque markers delete inside the target only what lower layers put there', async () => {
    await apply([
      [{ path: 'keep', type: 'directory' }],
      [{ path: 'keep/a', type: 'file' }, 'a'],
      [{ path: 'gone', type: 'file' }, 'g'],
      [{ path: 'opq', type: 'directory' }],
      [{ path: 'opq/old', type: 'file' }, 'old'],
      [{ path: 'opq/olddir', type: 'directory' }],
    ]);
    const r = await apply([
      [{ path: '.wh.gone', type: 'file' }],
      [{ path: 'opq', type: 'directory' }],
      // sorts before the marker, written by this layer: must survive the opaque marker
      [{ path: 'opq/-new', type: 'file' }, 'new'],
      // parent directory never listed: created implicitly, still this layer's own
      [{ path: 'opq/-implicit/child', type: 'file' }, 'c'],
      [{ path: 'opq/.wh..wh..opq', type: 'file' }],
      [{ path: 'opq/z', type: 'file' }, 'z'],
      // the same directory reached through a symlink: still this layer's own files
      [{ path: 'via', type: 'symlink', linkname: 'keep' }],
      [{ path: 'via/b', type: 'file' }, 'b'],
      [{ path: 'keep/.wh..wh..opq', type: 'file' }],
    ]);
    assert.deepEqual(fs.readdirSync(path.join(root, 'keep')), ['b']);
    assert.deepEqual(fs.readdirSync(root).sort(), ['keep', 'opq', 'via']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'opq')).sort(), ['-implicit', '-new', 'z']);
    assert.equal(fs.readFileSync(path.join(root, 'opq/-implicit/child'), 'utf8'), 'c');
    assert.match(r.diffID, /^sha256:[0-9a-f]{64}$/);
    assert.equal(r.size % 512, 0);
  });

  it("whiteouts: 'none' extracts .wh. names as ordinary files (plain archives, not layers)", async () => {
    fs.writeFileSync(path.join(root, 'victim'), 'v');
    const tar = await tarOf([
      [{ path: '.wh.victim', type: 'file' }, 'data'],
      [{ path: '.wh..wh..opq', type: 'file' }, ''],
    ]);
    await applyLayer(Readable.from([tar]), root, { whiteouts: 'none' });
    assert.deepEqual(fs.readdirSync(root).sort(), ['.wh..wh..opq', '.wh.victim', 'victim']);
  });

  it("devices: 'skip' leaves device nodes out and creates everything else", async () => {
    const tar = await tarOf([
      [{ path: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }],
      [{ path: 'sda', type: 'block', devmajor: 8, devminor: 0 }],
      [{ path: 'pipe', type: 'fifo', mode: 0o600 }],
      [{ path: 'file', type: 'file' }, 'f'],
    ]);
    await applyLayer(Readable.from([tar]), root, { devices: 'skip' });
    assert.deepEqual(fs.readdirSync(root).sort(), ['file', 'pipe']);
    assert.ok(fs.lstatSync(path.join(root, 'pipe')).isFIFO());
  });
  it('refuses a symlink with an empty target with LAYER_INVALID_LINK naming it, not ENOENT', async () => {
    const err = await apply([[{ path: 'dir/empty', type: 'symlink', linkname: '' }]]).catch((e) => e);
    assert.equal(err.code, 'LAYER_INVALID_LINK');
    assert.match(err.message, /"dir\/empty" has an empty target/);
  });

  it('refuses a name longer than 255 bytes with LAYER_ENTRY_INVALID, shown byte for byte', async () => {
    const long = `bad\udcff${'n'.repeat(300)}`;
    const err = await apply([[{ path: `d/${long}`, type: 'file' }, 'x']]).catch((e) => e);
    assert.equal(err.code, 'LAYER_ENTRY_INVALID');
    assert.ok(err.message.includes('bad\\xff'), err.message);
    assert.match(err.message, /304 bytes; Linux allows 255/);
  });

  it('refuses a path deeper than PATH_MAX with LAYER_ENTRY_INVALID, not ENAMETOOLONG', async () => {
    const deep = Array.from({ length: 20 }, (_, i) => `${i}`.padStart(250, 'd')).join('/');
    for (const type of ['file', 'directory', 'symlink'] as const) {
      const err = await apply([
        [{ path: `${deep}/leaf`, type, linkname: type === 'symlink' ? 'x' : '' }],
      ]).catch((e) => e);
      assert.equal(err.code, 'LAYER_ENTRY_INVALID', err.stack);
      assert.match(err.message, /makes a path longer than Linux allows/);
      assert.ok(!err.message.includes(root), 'the message shows the entry, not host paths');
    }
  });

  it('sets an mtime out of the kernel range to the epoch, as containerd does', async () => {
    await apply([
      [{ path: 'far', type: 'file', mtime: 1e15 }, 'f'],
      [{ path: 'dir', type: 'directory', mtime: -1e15 }],
      [{ path: 'ok', type: 'file', mtime: 2 ** 33 }, 'o'],
    ]);
    assert.equal(fs.lstatSync(path.join(root, 'far')).mtimeMs, 0);
    assert.equal(fs.lstatSync(path.join(root, 'dir')).mtimeMs, 0);
    assert.equal(fs.lstatSync(path.join(root, 'ok')).mtimeMs, 2 ** 33 * 1000);
  });

  it('creates a fifo whose mode has setuid, setgid and sticky bits', async () => {
    await apply([[{ path: 'pipe', type: 'fifo', mode: 0o7644 }]]);
    const st = fs.lstatSync(path.join(root, 'pipe'));
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o7777, 0o7644);
  });
});

describe('applyLayer sync: a target holding an earlier extraction ends as a fresh one would', () => {
  const A: [TarHeaderInput, string?][] = [
    [{ path: 'keep', type: 'file', size: 4 }, 'KEEP'],
    [{ path: 'same-size', type: 'file', size: 4 }, 'AAAA'],
    [{ path: 'gone', type: 'file', size: 1 }, 'G'],
    [{ path: 'x', type: 'file', size: 1 }, 'X'],
    [{ path: 'ln', type: 'symlink', linkname: '/etc' }],
    [{ path: 'd/', type: 'directory', mode: 0o700 }],
    [{ path: 'd/old', type: 'file', size: 1 }, 'O'],
    [{ path: 'h', type: 'file', size: 2, mode: 0o600 }, 'HH'],
  ];
  const B: [TarHeaderInput, string?][] = [
    [{ path: 'keep', type: 'file', size: 4 }, 'KEEP'],
    [{ path: 'same-size', type: 'file', size: 4 }, 'BBBB'],
    [{ path: 'x/y', type: 'file', size: 1 }, 'Y'],
    [{ path: 'ln/passwd', type: 'file', size: 1 }, 'P'],
    [{ path: 'd/new', type: 'file', size: 1 }, 'N'],
    [{ path: 'h', type: 'file', size: 2, mode: 0o755 }, 'HH'],
    [{ path: 'h2', type: 'hardlink', linkname: 'h' }],
  ];

  it('matches a fresh extraction (files, modes, mtimes, links) and hashes each file right', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-sync-'));
    try {
      const fresh = path.join(tmp, 'fresh');
      const synced = path.join(tmp, 'synced');
      await applyLayer(Readable.from([await tarOf(B)]), fresh, { whiteouts: 'none', sameOwner: false });
      await applyLayer(Readable.from([await tarOf(A)]), synced, { whiteouts: 'none', sameOwner: false });
      const keptIno = fs.lstatSync(path.join(synced, 'keep')).ino;
      const digests = new Map();
      await applyLayer(Readable.from([await tarOf(B)]), synced, {
        whiteouts: 'none',
        sameOwner: false,
        sync: true,
        fileDigests: digests,
      });
      // Implicit directories (x, ln, d's explicit mode is gone) differ only in their mtime.
      const strip = (t: Record<string, unknown>) =>
        JSON.stringify(t, (k, v) => (k === 'mtime' || k === 'ino' ? undefined : v));
      assert.equal(strip(await describeTree(synced)), strip(await describeTree(fresh)));
      assert.equal(fs.readFileSync(path.join(synced, 'same-size'), 'utf8'), 'BBBB');
      assert.equal(fs.lstatSync(path.join(synced, 'keep')).ino, keptIno, 'an unchanged file is kept');
      assert.equal(fs.lstatSync(path.join(synced, 'ln')).isDirectory(), true);
      assert.equal(fs.lstatSync(path.join(synced, 'keep')).mtimeMs, 1600000000 * 1000);
      const sha = (t: string) => `sha256:${createHash('sha256').update(t).digest('hex')}`;
      const real = fs.realpathSync(synced);
      assert.equal(digests.get(path.join(real, 'same-size')), sha('BBBB'));
      assert.equal(digests.get(path.join(real, 'keep')), sha('KEEP'));
      assert.equal(digests.get(path.join(real, 'h2')), sha('HH'));
      assert.equal(digests.get(path.join(real, 'x/y')), sha('Y'));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
