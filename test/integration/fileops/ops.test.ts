/** mkdir / WORKDIR / mkfile / rm / symlink semantics on a destination root. Needs root (chown). */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { mkdir, mkfile, rm, symlink, workdir } from '../../../src/fileops/index.ts';
import { build, inspect, tempDir } from './helpers.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function root(): string {
  const d = tempDir('kiln-ops-');
  dirs.push(d);
  return d;
}

describe('mkdir and WORKDIR', () => {
  it('WORKDIR creates every missing parent 0755, owned as asked', () => {
    const r = root();
    build(r, { 'etc/passwd': 'app:x:1000:1000::/home/app:/bin/sh\n' });
    workdir(r, '/srv/app/data', { chown: { user: 'app' } });
    const s = inspect(r);
    for (const p of ['srv', 'srv/app', 'srv/app/data']) {
      assert.equal(s[p].type, 'dir');
      assert.equal(s[p].mode, 0o755, p);
      assert.equal(s[p].uid, 1000, p);
    }
  });
  it('WORKDIR on an existing directory leaves it alone', () => {
    const r = root();
    build(r, { srv: { dir: true, mode: 0o700, uid: 5 } });
    workdir(r, '/srv');
    assert.equal(inspect(r).srv.mode, 0o700);
    assert.equal(inspect(r).srv.uid, 5);
  });
  it('mkdir without parents needs the parent; with makeParents applies the mode to each created dir', () => {
    const r = root();
    assert.throws(() => mkdir(r, '/a/b'), { code: 'FILEOP_PARENT_MISSING' });
    mkdir(r, '/a/b', { makeParents: true, mode: 0o700 });
    assert.equal(inspect(r).a.mode, 0o700);
    assert.equal(inspect(r)['a/b'].mode, 0o700);
    mkdir(r, '/a/c', { mode: 0o750 });
    assert.equal(inspect(r)['a/c'].mode, 0o750);
  });
  it('mkdir over a file is an error', () => {
    const r = root();
    build(r, { f: 'x' });
    assert.throws(() => mkdir(r, '/f/sub', { makeParents: true }), { code: 'FILEOP_NOT_A_DIRECTORY' });
  });
});

describe('mkfile', () => {
  it('writes data with the mode and owner, replacing an existing file', () => {
    const r = root();
    build(r, { 'etc/x': 'old' });
    mkfile(r, '/etc/x', 'new', { mode: 0o600, chown: { uid: 3, gid: 4 }, mtime: new Date(1_000_000) });
    const f = inspect(r)['etc/x'];
    assert.deepEqual([f.content, f.mode, f.uid, f.gid, f.mtime], ['new', 0o600, 3, 4, 1000]);
  });
  it('needs the parent directory', () => {
    assert.throws(() => mkfile(root(), '/no/such/file', 'x'), { code: 'FILEOP_PARENT_MISSING' });
  });
});

describe('rm', () => {
  it('removes files and trees, with wildcards', () => {
    const r = root();
    build(r, { 'a.log': '', 'b.log': '', 'c.txt': '', 'd/e/f': '' });
    rm(r, '/*.log', { allowWildcard: true });
    rm(r, '/d');
    assert.deepEqual(Object.keys(inspect(r)), ['c.txt']);
  });
  it('reports a missing path unless allowNotFound', () => {
    const r = root();
    assert.throws(() => rm(r, '/nope'), { code: 'FILEOP_NOT_FOUND' });
    rm(r, '/nope', { allowNotFound: true });
  });
  it('removes a symlink, not what it points to', () => {
    const r = root();
    build(r, { 'target/keep': 'k', link: { link: 'target' } });
    rm(r, '/link');
    assert.deepEqual(Object.keys(inspect(r)), ['target', 'target/keep']);
  });
});

describe('symlink', () => {
  it('stores the target text as given and chowns the link itself', () => {
    const r = root();
    symlink(r, '../lib/x.so', '/libx.so', { chown: { uid: 9, gid: 9 } });
    const l = inspect(r)['libx.so'];
    assert.deepEqual([l.type, l.link, l.uid], ['symlink', '../lib/x.so', 9]);
  });
});
