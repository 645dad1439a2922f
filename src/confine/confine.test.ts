/**
 * The hostile-path set: one table of planted symlinks and tricky paths, resolved by both walkers
 * (by path and by descriptor); nothing may resolve outside the root, and the sentinel beside the
 * root must never be reached.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openInRoot, openParentStrict } from './fd.ts';
import { cleanComponents, resolveInRoot } from './resolve.ts';

let base: string;
let root: string;
let sentinel: string;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'kiln-confine-'));
  root = join(base, 'root');
  sentinel = join(base, 'outside');
  mkdirSync(join(sentinel, 'etc'), { recursive: true });
  writeFileSync(join(sentinel, 'secret'), 'HOST SECRET');
  writeFileSync(join(sentinel, 'etc', 'passwd'), 'HOST PASSWD');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0');
  writeFileSync(join(root, 'file'), 'f');
  symlinkSync('/etc', join(root, 'abs'));
  symlinkSync('../../../../..', join(root, 'up'));
  symlinkSync('etc', join(root, 'rel'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('/nope/x', join(root, 'dangling'));
  symlinkSync(sentinel, join(root, 'hostlink'));
  symlinkSync(`../../${join(base, 'outside').split('/').slice(1).join('/')}`, join(root, 'a', 'climb'));
  symlinkSync('missing/../../../etc', join(root, 'a', 'b', 'lexical'));
  symlinkSync('../a/b', join(root, 'etc', 'back'));
  symlinkSync('.', join(root, 'self'));
});
after(() => rmSync(base, { recursive: true, force: true }));

interface Case {
  path: string;
  followFinal?: boolean;
  rel: string;
  exists: boolean;
  /** The result is an unfollowed symlink: there is nothing to open. */
  finalLink?: boolean;
}

const cases: Case[] = [
  { path: 'etc/passwd', rel: 'etc/passwd', exists: true },
  { path: '/etc/passwd', rel: 'etc/passwd', exists: true },
  { path: '../../etc/passwd', rel: 'etc/passwd', exists: true },
  { path: 'a/../../../etc/./passwd', rel: 'etc/passwd', exists: true },
  { path: 'abs/passwd', rel: 'etc/passwd', exists: true },
  { path: 'abs', rel: 'etc', exists: true },
  { path: 'abs', followFinal: false, rel: 'abs', exists: true, finalLink: true },
  { path: 'up/etc/passwd', rel: 'etc/passwd', exists: true },
  { path: 'up', rel: '', exists: true },
  { path: 'rel/passwd', rel: 'etc/passwd', exists: true },
  { path: 'dangling', rel: 'nope/x', exists: false },
  { path: 'dangling', followFinal: false, rel: 'dangling', exists: true, finalLink: true },
  { path: 'hostlink/secret', rel: `${sentinelRel()}/secret`, exists: false },
  { path: 'hostlink/etc/passwd', rel: `${sentinelRel()}/etc/passwd`, exists: false },
  { path: 'a/climb/secret', rel: `${sentinelRel()}/secret`, exists: false },
  { path: 'a/b/lexical/passwd', rel: 'etc/passwd', exists: true },
  { path: 'etc/back/../../file', rel: 'file', exists: true },
  { path: 'file/x', rel: 'file/x', exists: false },
  { path: 'self/self/self/etc', rel: 'etc', exists: true },
  { path: 'missing/dir', rel: 'missing/dir', exists: false },
  { path: '', rel: '', exists: true },
];

// Computed lazily: `base` exists only once before() ran.
function sentinelRel(): string {
  return '\0sentinel';
}
function expectedRel(c: Case): string {
  return c.rel.replace('\0sentinel', join(base, 'outside').slice(1));
}

describe('hostile paths resolve inside the root', () => {
  for (const c of cases) {
    it(`by path: ${c.path || '(empty)'}${c.followFinal === false ? ' (final not followed)' : ''}`, () => {
      const r = resolveInRoot(root, c.path, c.followFinal ?? true);
      assert.equal(r.rel, expectedRel(c));
      assert.equal(r.exists, c.exists);
      assert.ok(r.abs === root || r.abs.startsWith(`${root}/`), r.abs);
    });
    it(`by descriptor: ${c.path || '(empty)'}${c.followFinal === false ? ' (final not followed)' : ''}`, () => {
      if (!c.exists || c.finalLink) {
        // A missing path (or a final symlink) fails: it never opens anything outside the root.
        assert.throws(
          () => openInRoot(root, c.path, { followFinal: c.followFinal }),
          (e: Error & { code?: string }) => e.code === 'PATH_NOT_FOUND',
        );
        return;
      }
      const h = openInRoot(root, c.path, { followFinal: c.followFinal });
      try {
        assert.equal(h.comps.join('/'), expectedRel(c));
        if (h.stat.isFile()) assert.doesNotMatch(readFileSync(h.path, 'utf8'), /HOST/);
      } finally {
        h.close();
      }
    });
  }

  it('a symlink loop is an error, not a hang', () => {
    assert.throws(
      () => resolveInRoot(root, 'loop1/x'),
      (e: Error & { code?: string }) => e.code === 'PATH_SYMLINK_LOOP',
    );
    assert.throws(
      () => openInRoot(root, 'loop1'),
      (e: Error & { code?: string }) => e.code === 'PATH_SYMLINK_LOOP',
    );
  });

  it('the strict parent lookup refuses any symlink on the way', () => {
    assert.equal(openParentStrict(root, 'abs/passwd'), undefined);
    assert.equal(openParentStrict(root, 'a/climb/secret'), undefined);
    const ok = openParentStrict(root, 'etc/passwd');
    assert.ok(ok);
    assert.equal(ok.name, 'passwd');
    assert.deepEqual(ok.dir.comps, ['etc']);
    ok.dir.close();
  });

  it('the sentinel outside the root is untouched', () => {
    assert.equal(readFileSync(join(sentinel, 'secret'), 'utf8'), 'HOST SECRET');
  });

  it('cleaning drops leading .. and empty components', () => {
    assert.deepEqual(cleanComponents('/../a//./b/../c/'), ['a', 'c']);
  });
});
