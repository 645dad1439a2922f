/**
 * Hostile destinations and sources: symlinks in the destination rootfs (absolute, relative,
 * `../../..`, chains, dangling) and in a source stage's rootfs must never make a file op write
 * or read outside its root. A sentinel directory beside the roots must stay byte-for-byte intact.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { checksum } from '../../../src/context/checksum.ts';
import { copy, mkdir, mkfile, rm, symlink, workdir } from '../../../src/fileops/index.ts';
import { build, inspect, tempDir } from './helpers.ts';

let base: string;
let root: string;
let src: string;
let sentinel: string;
let sentinelBefore: string;
const bases: string[] = [];
after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

function snapshot(): string {
  return JSON.stringify(inspect(sentinel), (k, v) => (k === 'ino' ? undefined : v));
}

beforeEach(() => {
  base = tempDir('kiln-hostile-');
  bases.push(base);
  root = join(base, 'root');
  src = join(base, 'src');
  sentinel = join(base, 'sentinel');
  mkdirSync(root);
  mkdirSync(src);
  build(sentinel, { 'secret.txt': 'do not touch', 'etc/passwd': 'host', 'dir/keep': 'k' });
  // Links pointing out of the destination root, every way we can think of.
  build(root, {
    'abs-etc': { link: '/etc' },
    'up-rel': { link: '../sentinel' },
    'up-deep': { link: '../../../../../../..' },
    'to-root-abs': { link: '/' },
    chain1: { link: 'chain2' },
    chain2: { link: '../sentinel/dir' },
    'abs-sentinel': { link: `${join(base, 'sentinel')}` },
    dangling: { link: '../sentinel/newfile' },
    loop1: { link: 'loop2' },
    loop2: { link: 'loop1' },
  });
  build(src, { 'a.txt': 'payload', 'd/f': 'F' });
  sentinelBefore = snapshot();
});

function assertSentinelIntact(): void {
  assert.equal(snapshot(), sentinelBefore, 'the sentinel outside the root changed');
  assert.equal(existsSync(join(sentinel, 'newfile')), false);
  assert.equal(existsSync(join(sentinel, 'a.txt')), false);
}

const COPY = {
  dirContentsOnly: true,
  followSymlinks: true,
  allowWildcard: true,
  createDestPath: true,
  defaultOwner: { uid: 0, gid: 0 },
};

describe('hostile destinations', () => {
  const dests = [
    '/up-rel/a.txt',
    '/up-rel/',
    '/up-deep/sentinel/a.txt',
    '/up-deep/',
    '/chain1/a.txt',
    '/abs-sentinel/a.txt',
    '/dangling',
    '/../../sentinel/a.txt',
    '/to-root-abs/../../sentinel/x/',
    '/abs-etc/passwd',
  ];
  for (const dest of dests) {
    it(`COPY a.txt ${dest} stays inside the root`, async () => {
      await copy({ ...COPY, srcRoot: src, srcPaths: ['a.txt'], destRoot: root, dest });
      assertSentinelIntact();
      const all = inspect(root);
      assert.ok(
        Object.values(all).some((e) => e.content === 'payload'),
        'the file was written somewhere in the root',
      );
    });
  }
  it('COPY dir through an escaping link lands inside the root', async () => {
    await copy({ ...COPY, srcRoot: src, srcPaths: ['d'], destRoot: root, dest: '/up-rel/dir/' });
    assertSentinelIntact();
    assert.equal(readFileSync(join(root, 'sentinel/dir/f'), 'utf8'), 'F');
  });
  it('a symlink loop in the destination is an error, not a hang', async () => {
    await assert.rejects(
      copy({ ...COPY, srcRoot: src, srcPaths: ['a.txt'], destRoot: root, dest: '/loop1/x' }),
      {
        code: 'PATH_SYMLINK_LOOP',
      },
    );
    assertSentinelIntact();
  });
  it('mkdir -p / WORKDIR through escaping links', () => {
    workdir(root, '/up-rel/newdir/sub');
    mkdir(root, '/up-deep/sentinel/made', { makeParents: true });
    mkdir(root, '/chain1/made2', { makeParents: true });
    assertSentinelIntact();
    assert.ok(existsSync(join(root, 'sentinel/newdir/sub')));
    assert.ok(existsSync(join(root, 'sentinel/dir/made2')));
  });
  it('mkfile through escaping links and onto a dangling link', () => {
    // /etc does not exist in the root: the link's parent is missing there, whatever the host has.
    assert.throws(() => mkfile(root, '/abs-etc/passwd', 'x'), { code: 'FILEOP_PARENT_MISSING' });
    mkdir(root, '/sentinel', { makeParents: true });
    mkdir(root, '/etc');
    mkfile(root, '/dangling', 'x');
    mkfile(root, '/up-rel/secret.txt', 'overwritten?');
    mkfile(root, '/abs-etc/passwd', 'root-only', { mode: 0o600 });
    assertSentinelIntact();
    assert.equal(readFileSync(join(root, 'sentinel/newfile'), 'utf8'), 'x');
    assert.equal(readFileSync(join(root, 'etc/passwd'), 'utf8'), 'root-only');
  });
  it('rm through escaping links never removes outside', () => {
    rm(root, '/up-rel/secret.txt', { allowNotFound: true });
    rm(root, '/up-deep/sentinel/dir', { allowNotFound: true });
    rm(root, '/chain1/keep', { allowNotFound: true });
    rm(root, '/up-rel/*', { allowWildcard: true, allowNotFound: true });
    assertSentinelIntact();
    // The link itself is removed, not its target.
    rm(root, '/up-rel');
    assert.equal(existsSync(join(root, 'up-rel')), false);
    assertSentinelIntact();
  });
  it('symlink creation through escaping links', () => {
    assert.throws(() => symlink(root, '/etc/shadow', '/up-rel/evil'), { code: 'FILEOP_PARENT_MISSING' });
    mkdir(root, '/sentinel');
    symlink(root, '/etc/shadow', '/up-rel/evil');
    assert.equal(inspect(root)['sentinel/evil'].link, '/etc/shadow');
    assertSentinelIntact();
  });
  it("chown by name reads the root's passwd even when /etc is a link out", async () => {
    // /etc -> ../sentinel/etc would expose the host's file; it must resolve inside the root.
    symlinkSync('../sentinel/etc', join(root, 'etc'));
    await assert.rejects(
      copy({
        ...COPY,
        srcRoot: src,
        srcPaths: ['a.txt'],
        destRoot: root,
        dest: '/x',
        chown: { user: 'host' },
      }),
      { code: 'CHOWN_UNKNOWN_USER' },
    );
    assertSentinelIntact();
  });
});

describe("hostile sources (another stage's rootfs)", () => {
  it('a source symlink pointing outside resolves inside the source root', async () => {
    symlinkSync('../sentinel/secret.txt', join(src, 'evil'));
    symlinkSync(join(sentinel, 'secret.txt'), join(src, 'evil-abs'));
    await assert.rejects(copy({ ...COPY, srcRoot: src, srcPaths: ['evil'], destRoot: root, dest: '/x' }), {
      code: 'COPY_SOURCE_NOT_FOUND',
    });
    await assert.rejects(
      copy({ ...COPY, srcRoot: src, srcPaths: ['evil-abs'], destRoot: root, dest: '/x' }),
      {
        code: 'COPY_SOURCE_NOT_FOUND',
      },
    );
    assert.equal(existsSync(join(root, 'x')), false);
  });
  it('a symlinked directory in a source path and wildcard stays inside', async () => {
    symlinkSync('../../../sentinel', join(src, 'dirlink'));
    await assert.rejects(
      copy({ ...COPY, srcRoot: src, srcPaths: ['dirlink/secret.txt'], destRoot: root, dest: '/x' }),
      {
        code: 'COPY_SOURCE_NOT_FOUND',
      },
    );
    // dirlink re-rooted is <src>/sentinel, which does not exist: the wildcard's directory is
    // missing, which fails even with allowEmptyWildcard (BuildKit), and nothing is read outside.
    await assert.rejects(
      copy({
        ...COPY,
        srcRoot: src,
        srcPaths: ['dirlink/*'],
        destRoot: root,
        dest: '/w/',
        allowEmptyWildcard: true,
      }),
      { code: 'COPY_SOURCE_NOT_FOUND' },
    );
    const seen = inspect(root);
    assert.equal(
      Object.values(seen).some((e) => e.content === 'do not touch'),
      false,
    );
  });
  it('symlinks inside a copied directory are copied as links, not read', async () => {
    symlinkSync(join(sentinel, 'secret.txt'), join(src, 'd/leak'));
    await copy({ ...COPY, srcRoot: src, srcPaths: ['d'], destRoot: root, dest: '/x' });
    assert.equal(inspect(root)['x/leak'].type, 'symlink');
  });
  it('checksum never reads outside the source root', () => {
    symlinkSync('../sentinel/secret.txt', join(src, 'evil'));
    assert.throws(() => checksum({ root: src, paths: ['evil'], followSymlinks: true }), {
      code: 'COPY_SOURCE_NOT_FOUND',
    });
    writeFileSync(join(sentinel, 'secret.txt'), 'changed');
    sentinelBefore = snapshot();
  });
});
