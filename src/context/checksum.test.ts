/** Content checksums: stable over unrelated edits and mtimes, sensitive to what COPY reads, cached. */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checksum } from './checksum.ts';
import { DigestCache } from './digestcache.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ctx(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-sum-'));
  dirs.push(d);
  mkdirSync(join(d, 'src/lib'), { recursive: true });
  writeFileSync(join(d, 'src/a.ts'), 'a');
  writeFileSync(join(d, 'src/lib/b.ts'), 'b');
  writeFileSync(join(d, 'README.md'), 'readme');
  writeFileSync(join(d, 'x.txt'), 'x');
  writeFileSync(join(d, 'y.txt'), 'y');
  return d;
}

describe('checksum', () => {
  it('ignores edits to files the COPY does not read', () => {
    const d = ctx();
    const before = checksum({ root: d, paths: ['src'] });
    writeFileSync(join(d, 'README.md'), 'changed');
    assert.equal(checksum({ root: d, paths: ['src'] }), before);
  });
  it('changes when a copied file changes content or mode, not when only its mtime does', () => {
    const d = ctx();
    const before = checksum({ root: d, paths: ['src'] });
    utimesSync(join(d, 'src/a.ts'), new Date(1000), new Date(1000));
    assert.equal(checksum({ root: d, paths: ['src'] }), before);
    writeFileSync(join(d, 'src/lib/b.ts'), 'B');
    const edited = checksum({ root: d, paths: ['src'] });
    assert.notEqual(edited, before);
    chmodSync(join(d, 'src/a.ts'), 0o755);
    assert.notEqual(checksum({ root: d, paths: ['src'] }), edited);
  });
  it('expands wildcards and ignores files hidden by .dockerignore patterns', () => {
    const d = ctx();
    const txt = checksum({ root: d, paths: ['*.txt'] });
    writeFileSync(join(d, 'README.md'), 'changed');
    assert.equal(checksum({ root: d, paths: ['*.txt'] }), txt);
    writeFileSync(join(d, 'z.txt'), 'z');
    assert.notEqual(checksum({ root: d, paths: ['*.txt'] }), txt);
    const ignored = checksum({ root: d, paths: ['src'], excludePatterns: ['src/lib'] });
    writeFileSync(join(d, 'src/lib/b.ts'), 'changed');
    assert.equal(checksum({ root: d, paths: ['src'], excludePatterns: ['src/lib'] }), ignored);
  });
  it('reports a missing source and an excluded one as not found', () => {
    const d = ctx();
    assert.throws(() => checksum({ root: d, paths: ['nope'] }), { code: 'COPY_SOURCE_NOT_FOUND' });
    assert.throws(() => checksum({ root: d, paths: ['x.txt'], excludePatterns: ['*.txt'] }), {
      code: 'COPY_SOURCE_NOT_FOUND',
    });
    assert.throws(() => checksum({ root: d, paths: ['*.none'] }), { code: 'COPY_SOURCE_NOT_FOUND' });
    assert.match(checksum({ root: d, paths: ['*.none'], allowEmptyWildcard: true }), /^sha256:/);
  });
  it('an empty wildcard is allowed only when the directory it is matched in exists and is sent', () => {
    const d = ctx();
    const empty = { root: d, allowEmptyWildcard: true };
    assert.match(checksum({ ...empty, paths: ['src/*.none'] }), /^sha256:/);
    assert.throws(() => checksum({ ...empty, paths: ['missing/*'] }), {
      code: 'COPY_SOURCE_NOT_FOUND',
      message: /^missing\/\*: not found: directory missing does not exist/,
    });
    assert.throws(() => checksum({ ...empty, paths: ['src/nope/*.ts'] }), { code: 'COPY_SOURCE_NOT_FOUND' });
    // A directory .dockerignore keeps out of the context is missing; one whose children are all excluded is not.
    assert.throws(() => checksum({ ...empty, paths: ['src/lib/*.none'], excludePatterns: ['src/lib'] }), {
      code: 'COPY_SOURCE_NOT_FOUND',
      message: /\.dockerignore/,
    });
    assert.match(checksum({ ...empty, paths: ['src/lib/*'], excludePatterns: ['src/lib/*'] }), /^sha256:/);
    assert.match(
      checksum({ ...empty, paths: ['src/lib/*'], excludePatterns: ['src/lib', '!src/lib/b.ts'] }),
      /^sha256:/,
    );
  });
  it('follows a source symlink only inside the root', () => {
    const d = ctx();
    symlinkSync('/src/../../../../etc', join(d, 'escape'));
    // The target re-rooted at the context is <root>/etc, which does not exist (the host's /etc does).
    assert.throws(() => checksum({ root: d, paths: ['escape'], followSymlinks: true }), {
      code: 'COPY_SOURCE_NOT_FOUND',
    });
    mkdirSync(join(d, 'etc'));
    writeFileSync(join(d, 'etc/passwd'), 'inside');
    const viaLink = checksum({ root: d, paths: ['escape'], followSymlinks: true });
    assert.equal(checksum({ root: d, paths: ['etc'] }).length, viaLink.length);
    writeFileSync(join(d, 'etc/passwd'), 'changed');
    assert.notEqual(checksum({ root: d, paths: ['escape'], followSymlinks: true }), viaLink);
  });
  it('uses the persistent cache: an unchanged identity is not re-read', () => {
    const d = ctx();
    const db = join(d, 'cache.db');
    const f = join(d, 'src/a.ts');
    const old = new Date(Date.now() - 10_000);
    utimesSync(f, old, old);
    const cache = DigestCache.open(db);
    const first = checksum({ root: d, paths: ['src'], cache });
    cache.close();
    // Same size, same mtime, same inode: the cache answers and the new bytes go unseen.
    const st = statSync(f);
    writeFileSync(f, 'Z');
    utimesSync(f, st.atime, st.mtime);
    const warm = DigestCache.open(db);
    assert.equal(checksum({ root: d, paths: ['src'], cache: warm }), first);
    warm.close();
    assert.notEqual(checksum({ root: d, paths: ['src'] }), first);
  });
  it('a released cache answers again from its database: rows are dropped, not digests', () => {
    const d = ctx();
    const f = join(d, 'src/a.ts');
    const old = new Date(Date.now() - 10_000);
    utimesSync(f, old, old);
    const cache = DigestCache.open(join(d, 'cache.db'));
    const first = checksum({ root: d, paths: ['src'], cache });
    cache.release(true);
    const st = statSync(f);
    writeFileSync(f, 'Z');
    utimesSync(f, st.atime, st.mtime);
    assert.equal(
      checksum({ root: d, paths: ['src'], cache }),
      first,
      'the identity is found after the release',
    );
    cache.close();
  });
  it('opens the cache database only when a file is looked up', () => {
    const d = ctx();
    const db = join(d, 'unused.db');
    DigestCache.open(db).close();
    assert.equal(existsSync(db), false);
    const used = DigestCache.open(db);
    checksum({ root: d, paths: ['src'], cache: used });
    used.close();
    assert.equal(existsSync(db), true);
  });
  it('includes ownership only when asked', () => {
    const d = ctx();
    const a = checksum({ root: d, paths: ['src'], ownership: true });
    assert.notEqual(checksum({ root: d, paths: ['src'], ownership: false }), a);
  });
});
