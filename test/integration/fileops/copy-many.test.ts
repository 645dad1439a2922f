/**
 * A COPY of more entries than copy.ts keeps xattrs waiting for (XATTRS_QUEUED, 4,096) writes
 * their extended attributes while its files are still being copied: every file arrives with its
 * bytes, owner, mode, mtime and attributes (after the chown, which clears capabilities), hard links
 * stay one inode, the directories get their metadata once their contents are in, and the
 * attributes of every flush come from one read (or one take) of the source's tree. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Xattrs } from '../../../src/archive/xattr.ts';
import { copy } from '../../../src/fileops/index.ts';
import { copyToApp, DOCKERFILE_COPY, inspect, tempDir } from './helpers.ts';

const MANY = 9_000; // more than two flushes of xattrs
const T = 1_600_000_000;

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** src/many/f0..f8999 (mode 0640, mtime T), src/few/a, and few/link: a hard link of many/f10. */
function manyFiles(): { src: string; dest: string } {
  const src = tempDir('kiln-batches-src-');
  const dest = tempDir('kiln-batches-dst-');
  roots.push(src, dest);
  mkdirSync(join(src, 'many'), { mode: 0o750 });
  mkdirSync(join(src, 'few'), { mode: 0o755 });
  for (let i = 0; i < MANY; i++) {
    const f = join(src, 'many', `f${i}`);
    writeFileSync(f, `file ${i}\n`);
    chmodSync(f, 0o640);
    utimesSync(f, T, T);
  }
  writeFileSync(join(src, 'few', 'a'), 'a\n');
  linkSync(join(src, 'many', 'f10'), join(src, 'few', 'link'));
  chmodSync(join(src, 'many'), 0o750);
  utimesSync(join(src, 'many'), T, T);
  return { src, dest };
}

function getfattr(path: string): string {
  return execFileSync('getfattr', ['-d', '-m', '-', path], { encoding: 'utf8' });
}

describe('a COPY of many files', () => {
  it('copies every file with its metadata and xattrs, keeps hard links, sets directories last', async () => {
    const { src, dest } = manyFiles();
    for (const i of [0, 5000, MANY - 1])
      execFileSync('setfattr', ['-n', 'user.kiln', '-v', `x${i}`, join(src, 'many', `f${i}`)]);
    execFileSync('setcap', ['cap_net_raw+ep', join(src, 'many', 'f4500')]);
    await copyToApp(src, dest, { chown: { uid: 1, gid: 2 } });
    const seen = inspect(dest);
    for (let i = 0; i < MANY; i++) {
      const f = seen[`app/many/f${i}`];
      assert.ok(f, `app/many/f${i} copied`);
      assert.equal(f.content, `file ${i}\n`);
      assert.deepEqual([f.mode, f.uid, f.gid, f.mtime], [0o640, 1, 2, T], `app/many/f${i}`);
    }
    assert.equal(seen['app/few/link'].ino, seen['app/many/f10'].ino, 'the hard link is one inode');
    assert.equal(seen['app/few/a'].content, 'a\n');
    // The directory's mode and mtime: set after its 9,000 entries were created in it.
    assert.deepEqual([seen['app/many'].mode, seen['app/many'].mtime], [0o750, T]);
    for (const i of [0, 5000, MANY - 1])
      assert.match(getfattr(join(dest, 'app/many', `f${i}`)), new RegExp(`user\\.kiln="x${i}"`));
    assert.doesNotMatch(getfattr(join(dest, 'app/many/f1')), /user\.kiln/);
    // After the chown, which clears file capabilities.
    assert.match(execFileSync('getcap', [join(dest, 'app/many/f4500')], { encoding: 'utf8' }), /cap_net_raw/);
  });

  it('takes a known attribute tree once and applies it to every flush', async () => {
    const { src, dest } = manyFiles();
    // Attributes only the known tree has (nothing on disk): a second read would lose them.
    const tree = new Map<string, Xattrs>([
      ['many/f1', { 'user.tree': Buffer.from('first') }],
      [`many/f${MANY - 2}`, { 'user.tree': Buffer.from('last') }],
    ]);
    let taken = 0;
    await copy({
      ...DOCKERFILE_COPY,
      srcRoot: src,
      srcPaths: ['.'],
      destRoot: dest,
      dest: '/',
      xattrs: true,
      knownXattrs: (rel) => {
        assert.equal(rel, '');
        taken++;
        return taken === 1 ? tree : undefined;
      },
    });
    assert.equal(taken, 1);
    assert.match(getfattr(join(dest, 'many/f1')), /user\.tree="first"/);
    assert.match(getfattr(join(dest, `many/f${MANY - 2}`)), /user\.tree="last"/);
  });
});
