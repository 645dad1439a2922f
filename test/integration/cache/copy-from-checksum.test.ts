/**
 * The checksum a COPY --from is keyed by (worker/stage-checksum.ts), on real overlay snapshots:
 * two trees a copy would copy differently never share it (an xattr, a hard link, a device
 * number, an owner), two that differ only in mtimes do; layers above the copied paths are
 * skipped, and the checksum is kept per snapshot.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InodeDigests, inodeIdentity, RACY_US } from '../../../src/context/inodedigests.ts';
import { stageChecksum } from '../../../src/worker/stage-checksum.ts';
import type { FsState } from '../../../src/worker/state.ts';
import { copyFromAction, fsState, stageLayers } from './stage-layers.ts';

const layers = stageLayers('kiln-copy-from-sum-');
const { layer } = layers;

const copy = copyFromAction;
const state = fsState;

const sum = (s: FsState, paths = ['/out'], inodes?: InodeDigests) =>
  stageChecksum(layers.sn, undefined, s, [copy(paths)], new AbortController().signal, undefined, inodes);

/** /out/a and /out/b, then `change` on top. */
function tree(change: (dir: string) => void = () => {}): (dir: string) => void {
  return (dir) => {
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out', 'a'), 'same\n');
    writeFileSync(join(dir, 'out', 'b'), 'same\n');
    change(dir);
  };
}

describe('the checksum of what COPY --from reads', () => {
  it('ignores mtimes but not xattrs, hard links, device numbers or owners', async () => {
    const base = await sum(state(await layer(tree())));
    const older = await sum(
      state(await layer(tree((d) => utimesSync(join(d, 'out', 'a'), new Date(0), new Date(0))))),
    );
    assert.equal(older, base, 'a different mtime reads the same');
    const setfattr = (d: string) => {
      const r = spawnSync('setfattr', ['-n', 'user.kiln', '-v', '1', join(d, 'out', 'a')]);
      assert.equal(r.status, 0, String(r.stderr));
    };
    const withXattr = await sum(state(await layer(tree(setfattr))));
    assert.notEqual(withXattr, base, 'an extended attribute');
    const linked = await sum(
      state(
        await layer((d) => {
          mkdirSync(join(d, 'out'));
          writeFileSync(join(d, 'out', 'a'), 'same\n');
          linkSync(join(d, 'out', 'a'), join(d, 'out', 'b'));
        }),
      ),
    );
    assert.notEqual(linked, base, 'b a hard link of a (the copy links it)');
    const dev = (minor: number) => (d: string) => {
      const r = spawnSync('mknod', [join(d, 'out', 'dev'), 'c', '1', String(minor)]);
      assert.equal(r.status, 0, String(r.stderr));
    };
    const dev3 = await sum(state(await layer(tree(dev(3)))));
    const dev5 = await sum(state(await layer(tree(dev(5)))));
    assert.notEqual(dev3, dev5, 'a device number');
    const owned = await sum(state(await layer(tree((d) => chownSync(join(d, 'out', 'b'), 1000, 1000)))));
    assert.notEqual(owned, base, 'an owner');
  });

  it('skips layers that leave the copied paths alone, and keeps the checksum per snapshot', async () => {
    const bottom = await layer(tree());
    const other = await layer((d) => {
      mkdirSync(join(d, 'elsewhere'));
      writeFileSync(join(d, 'elsewhere', 'x'), 'x\n');
    }, bottom);
    const kept = new Map<string, string>();
    const sums = {
      getSum: (s: string, w: string) => kept.get(`${s} ${w}`),
      putSum: (s: string, w: string, v: string) => void kept.set(`${s} ${w}`, v),
    };
    const on = await stageChecksum(
      layers.sn,
      sums,
      state(bottom, other),
      [copy(['/out'])],
      new AbortController().signal,
    );
    assert.equal(on, await sum(state(bottom)));
    assert.deepEqual(
      [...kept.keys()].map((k) => k.split(' ')[0]),
      [bottom],
      'kept for the snapshot it was read from',
    );
    // A layer that writes under the copied path is read.
    const touching = await layer((d) => {
      mkdirSync(join(d, 'out'));
      writeFileSync(join(d, 'out', 'a'), 'changed\n');
    }, other);
    assert.notEqual(await sum(state(bottom, other, touching)), on);
  });

  it('never skips down to a sum read through a link, even one read with that snapshot on top', async () => {
    const bottom = await layer((d) => {
      mkdirSync(join(d, 'data'));
      writeFileSync(join(d, 'data', 'a'), 'same\n');
      symlinkSync('/data', join(d, 'link'));
    });
    const kept = new Map<string, string>();
    const sums = {
      getSum: (s: string, w: string) => kept.get(`${s} ${w}`),
      putSum: (s: string, w: string, v: string) => void kept.set(`${s} ${w}`, v),
    };
    const linkSum = (s: FsState) =>
      stageChecksum(layers.sn, sums, s, [copy(['/link'])], new AbortController().signal);
    // Read first with `bottom` as the stage's top (a RUN's read-ahead does this: jobs.ts).
    const before = await linkSum(state(bottom));
    assert.equal(await linkSum(state(bottom)), before, 'kept for that snapshot as the top');
    const redirect = await layer((d) => {
      mkdirSync(join(d, 'data'));
      writeFileSync(join(d, 'data', 'a'), 'changed\n');
    }, bottom);
    const after = await linkSum(state(bottom, redirect));
    assert.notEqual(after, before, 'what the link leads to changed above it');
    assert.equal(after, await sum(state(bottom, redirect), ['/link']));
  });

  it('takes a snapshot file digest by inode while it is the same file, linked or not', async () => {
    const inodes = InodeDigests.open(join(layers.tmp, 'snapshot-digests.db'));
    try {
      let own = '';
      const bottom = await layer((d) => {
        own = d;
        mkdirSync(join(d, 'out'));
        writeFileSync(join(d, 'out', 'a'), 'AAAA\n');
        writeFileSync(join(d, 'out', 'b'), 'kept\n');
      });
      // A file is kept only once its ctime is older than the racy window.
      await new Promise((r) => setTimeout(r, RACY_US / 1000 + 50));
      const plain = await sum(state(bottom));
      assert.equal(await sum(state(bottom), ['/out'], inodes), plain, 'read and kept');
      // The kept digest is what is used: one planted for a's identity shows in the checksum,
      // and is not used once its birth time, mtime or size differs.
      const st = lstatSync(join(own, 'out', 'a'));
      const id = inodeIdentity(st);
      assert.ok(id.btimeUs > 0, 'this filesystem keeps birth times');
      const planted = `sha256:${'0'.repeat(64)}` as const;
      inodes.put(id, planted);
      inodes.flush();
      assert.notEqual(await sum(state(bottom), ['/out'], inodes), plain, 'the kept digest is used');
      // A hard link elsewhere (what a COPY --from makes of it) sets its ctime: still the same file.
      await new Promise((r) => setTimeout(r, 20));
      linkSync(join(own, 'out', 'a'), join(layers.tmp, 'linked-a'));
      assert.notEqual(lstatSync(join(own, 'out', 'a')).ctimeMs, st.ctimeMs);
      assert.notEqual(await sum(state(bottom), ['/out'], inodes), plain, 'linked: the kept digest is used');
      for (const other of [{ btimeUs: id.btimeUs + 1 }, { mtimeUs: id.mtimeUs + 1 }, { size: id.size + 1 }]) {
        inodes.put({ ...id, ...other }, planted);
        inodes.flush();
        assert.equal(
          await sum(state(bottom), ['/out'], inodes),
          plain,
          `${Object.keys(other)[0]}: read again`,
        );
      }
      // A file made where another was removed, with the same size: read again, whether or not
      // it took the freed inode number (ext4 often hands it out again; its birth time is new).
      unlinkSync(join(layers.tmp, 'linked-a'));
      await new Promise((r) => setTimeout(r, RACY_US / 1000 + 50));
      assert.equal(await sum(state(bottom), ['/out'], inodes), plain);
      assert.ok(
        inodes.get(inodeIdentity(lstatSync(join(own, 'out', 'a')))),
        'a row for the file removed next',
      );
      unlinkSync(join(own, 'out', 'a'));
      writeFileSync(join(own, 'out', 'a'), 'BBBB\n');
      const replaced = await sum(state(bottom));
      assert.notEqual(replaced, plain);
      assert.equal(await sum(state(bottom), ['/out'], inodes), replaced, 'the new file is read');
    } finally {
      inodes.close();
    }
  });
});
