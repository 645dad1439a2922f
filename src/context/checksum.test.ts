/** Content checksums: stable over unrelated edits and mtimes, sensitive to what COPY reads, cached. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { checksum, checksumInSteps, hashedOnMainThread } from './checksum.ts';
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

/** How many turns of the event loop other work got while `fn` ran (a callback once a turn). */
async function turnsDuring(fn: () => Promise<void>): Promise<number> {
  let ran = 0;
  let stop = false;
  const tick = () => {
    ran++;
    if (!stop) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await fn();
  } finally {
    stop = true;
  }
  return ran;
}

describe('checksum', () => {
  it('taken in steps, lets other work run between them and gives the same digest', async () => {
    const d = ctx();
    for (let i = 0; i < 50; i++) writeFileSync(join(d, `src/lib/n${i}.ts`), `n${i}`);
    const ran = await turnsDuring(async () => {
      const stepped = await checksumInSteps(
        { root: d, paths: ['.'] },
        { entries: 5, sliceMs: 0, bytes: Infinity },
      );
      assert.equal(stepped, checksum({ root: d, paths: ['.'] }));
      assert.equal(
        await checksumInSteps(
          { root: d, paths: ['src', 'x.txt'] },
          { entries: 1, sliceMs: 0, bytes: Infinity },
        ),
        checksum({ root: d, paths: ['src', 'x.txt'] }),
      );
    });
    assert.ok(ran >= 10, `other work ran ${ran} times during the walks`);
  });

  it('ends a step after its bytes, not only its entries: large files let other work run between them', async () => {
    const d = ctx();
    for (let i = 0; i < 6; i++) writeFileSync(join(d, `big${i}.bin`), Buffer.alloc(1 << 20, i));
    const turns = (bytes: number) =>
      turnsDuring(async () => {
        const sum = await checksumInSteps({ root: d, paths: ['.'] }, { entries: 1000, sliceMs: 0, bytes });
        assert.equal(sum, checksum({ root: d, paths: ['.'] }));
      });
    // One step of a thousand entries takes the whole context: the other work waits for its end.
    assert.ok((await turns(Infinity)) <= 2);
    // A step ends after each 1 MiB hashed: the other work runs between the six files.
    assert.ok((await turns(1 << 20)) >= 6);
  });

  it('a stepped checksum has large files hashed by a helper: same digest, same visits in walk order, cached', async () => {
    const d = ctx();
    // Large files (over 1 MiB) between small ones.
    const old = new Date(Date.now() - 10_000);
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(d, `src/big${i}.bin`), Buffer.alloc((3 << 20) + i, i + 1));
      // Old enough for the cache to keep its digest (not racy).
      utimesSync(join(d, `src/big${i}.bin`), old, old);
      writeFileSync(join(d, `src/big${i}.txt`), `small ${i}`);
    }
    const large = 6 * (3 << 20) + 15;
    const visits = (into: string[]) => (path: string, type: string, mode: number, content: string) =>
      into.push(`${path} ${type} ${mode} ${content}`);
    const seen: string[] = [];
    const before = hashedOnMainThread();
    const sync = checksum({ root: d, paths: ['.'], visit: visits(seen) });
    assert.ok(hashedOnMainThread() - before >= large, 'checksum() hashes them on the main thread');

    const db = join(mkdtempSync(join(tmpdir(), 'kiln-sum-db-')), 'cache.db');
    dirs.push(dirname(db));
    const cache = DigestCache.open(db);
    const stepped: string[] = [];
    const start = hashedOnMainThread();
    const sum = await checksumInSteps(
      { root: d, paths: ['.'], visit: visits(stepped), cache },
      { entries: 3, sliceMs: 0, bytes: 1 << 20 },
    );
    assert.equal(sum, sync);
    const here = hashedOnMainThread() - start;
    assert.ok(here < 1 << 20, `${here} bytes hashed on the main thread`);
    assert.deepEqual(stepped, seen, 'the same entries, in walk order, with their digests');
    cache.close();
    // The digests it took are the cache's: the next checksum reads none of them.
    const again = hashedOnMainThread();
    const warm = DigestCache.open(db);
    assert.equal(checksum({ root: d, paths: ['.'], cache: warm }), sync);
    warm.close();
    assert.ok(hashedOnMainThread() - again < 1 << 20, 'the large files came from the cache');
  });

  it('a stepped checksum fails on a large file that is no longer a regular file when it is opened', async () => {
    // A sentinel outside the context, as large as the file the walk saw: a link to it planted
    // between the walk and the open must not be hashed in the file's place.
    const outside = mkdtempSync(join(tmpdir(), 'kiln-sum-outside-'));
    dirs.push(outside);
    const sentinel = join(outside, 'host-secret');
    writeFileSync(sentinel, Buffer.alloc(2 << 20, 9));
    const swaps: [string, (p: string) => void][] = [
      ['a FIFO', (p) => execFileSync('mkfifo', [p])],
      ['a symlink out of the context', (p) => symlinkSync(sentinel, p)],
    ];
    for (const [what, plant] of swaps) {
      const d = ctx();
      writeFileSync(join(d, 'big.bin'), Buffer.alloc(2 << 20, 7));
      // The walk sees a regular file; between the walk and the open it becomes something else.
      const walked = await import('./walk.ts');
      const orig = walked.DirFS.prototype.walker;
      let swapped = false;
      walked.DirFS.prototype.walker = function (this: unknown, ...args: Parameters<typeof orig>) {
        const [rel, visit] = args;
        return orig.call(this, rel, (path, e, err) => {
          if (!swapped && path === 'big.bin') {
            swapped = true;
            rmSync(join(d, 'big.bin'));
            plant(join(d, 'big.bin'));
          }
          return visit(path, e, err);
        });
      } as typeof orig;
      const visited: string[] = [];
      try {
        await assert.rejects(
          checksumInSteps(
            { root: d, paths: ['.'], visit: (_p, _t, _m, content) => visited.push(content) },
            { entries: 1, sliceMs: 0, bytes: 1 << 20 },
          ),
          { code: 'SOURCE_CHANGED' },
          what,
        );
      } finally {
        walked.DirFS.prototype.walker = orig;
      }
      assert.ok(swapped, what);
      const secret = `sha256:${createHash('sha256').update(readFileSync(sentinel)).digest('hex')}`;
      assert.ok(!visited.includes(secret), `${what}: the sentinel's digest was taken`);
    }
  });

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
  it('keeps a checksum by directory tree: the same tree and request only, one tree a directory, a bounded number of requests', () => {
    const d = ctx();
    const db = join(d, 'cache.db');
    let cache = DigestCache.open(db);
    cache.putTreeSum(d, 'tree-1', 'copy .', 'sum-a');
    cache.putTreeSum(d, 'tree-1', 'copy src', 'sum-b');
    cache.close();
    cache = DigestCache.open(db);
    assert.equal(cache.treeSum(d, 'tree-1', 'copy .'), 'sum-a', 'kept across opens');
    assert.equal(cache.treeSum(d, 'tree-1', 'copy src'), 'sum-b');
    assert.equal(cache.treeSum(d, 'tree-2', 'copy .'), undefined, 'another tree');
    assert.equal(cache.treeSum(d, 'tree-1', 'copy other'), undefined, 'another request');
    assert.equal(cache.treeSum(`${d}/src`, 'tree-1', 'copy .'), undefined, 'another directory');
    cache.putTreeSum(d, 'tree-2', 'copy .', 'sum-c');
    assert.equal(cache.treeSum(d, 'tree-1', 'copy src'), undefined, 'a new tree replaces the old');
    for (let i = 0; i < 40; i++) cache.putTreeSum(d, 'tree-2', `copy ${i}`, `sum ${i}`);
    assert.equal(cache.treeSum(d, 'tree-2', 'copy .'), undefined, 'the oldest requests go first');
    assert.equal(cache.treeSum(d, 'tree-2', 'copy 8'), 'sum 8');
    assert.equal(cache.treeSum(d, 'tree-2', 'copy 7'), undefined, '32 requests kept');
    cache.close();
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
  it('a whole walk leaves a pack the next one reads in order; what changed since is hashed again', () => {
    const d = ctx();
    for (let i = 0; i < 100; i++) {
      mkdirSync(join(d, `pkg/m${i}`), { recursive: true });
      writeFileSync(join(d, `pkg/m${i}/index.js`), `module ${i}`);
    }
    const old = new Date(Date.now() - 10_000);
    const age = (f: string) => utimesSync(join(d, f), old, old);
    for (const f of ['src/a.ts', 'src/lib/b.ts', 'README.md', 'x.txt', 'y.txt']) age(f);
    for (let i = 0; i < 100; i++) age(`pkg/m${i}/index.js`);
    const db = `${d}-cache.db`;
    dirs.push(db, `${db}-wal`, `${db}-shm`);
    const whole = (cache?: DigestCache) => checksum({ root: d, paths: ['.'], cache });
    const sql = new DatabaseSync(db, { open: false });
    const forgetRows = () => {
      sql.open();
      sql.exec('DELETE FROM file_digests');
      sql.close();
    };
    // Other bytes under the same identity (size, mtime, inode): only a re-read sees them.
    const rewrite = (f: string, text: string) => {
      writeFileSync(join(d, f), text);
      age(f);
    };
    // With the rows gone only the pack knows the digests: other bytes under the same identity go
    // unseen exactly when the pack answers.
    const packAnswers = (sum: (cache?: DigestCache) => string, f: string, what: string) => {
      forgetRows();
      const expected = sum();
      const text = readFileSync(join(d, f), 'utf8');
      rewrite(f, text.toUpperCase());
      const c = DigestCache.open(db);
      assert.equal(sum(c), expected, what);
      c.close();
      rewrite(f, text);
    };
    const packCount = () => {
      sql.open();
      const row = sql.prepare('SELECT data FROM walk_packs').get() as { data: Uint8Array } | undefined;
      sql.close();
      return row ? Buffer.from(row.data).readUInt32LE(4) : -1;
    };
    let cache = DigestCache.open(db);
    const first = whole(cache);
    cache.close();
    assert.equal(packCount(), 105, 'no pack of the 105 files');
    // Another order (more files off the cursor than are looked for near it): found by path, the
    // pack answers.
    const reversed = Array.from({ length: 100 }, (_, i) => `pkg/m${99 - i}`);
    const some = (cache?: DigestCache) => checksum({ root: d, paths: reversed, cache });
    packAnswers(some, 'pkg/m20/index.js', 'the pack did not answer out of order');
    // Only the pack knows the digests now; the same identity with other bytes goes unseen.
    forgetRows();
    rewrite('x.txt', 'X');
    cache = DigestCache.open(db);
    assert.equal(whole(cache), first, 'the pack did not answer');
    rewrite('x.txt', 'x');
    // What the pack does not hold: a changed file, a new directory sorting first, a removed file.
    writeFileSync(join(d, 'y.txt'), 'changed');
    utimesSync(join(d, 'y.txt'), new Date(Date.now() - 5_000), new Date(Date.now() - 5_000));
    mkdirSync(join(d, 'a-first'));
    writeFileSync(join(d, 'a-first/new.txt'), 'new');
    age('a-first/new.txt');
    rmSync(join(d, 'pkg/m3'), { recursive: true });
    assert.equal(whole(cache), whole(), 'a change since the pack went unseen');
    assert.equal(whole(cache), whole());
    cache.close();
    assert.equal(packCount(), 105, 'a few changes made a new pack');
    // Many gone: a new pack.
    for (let i = 50; i < 100; i++) rmSync(join(d, `pkg/m${i}`), { recursive: true });
    cache = DigestCache.open(db);
    assert.equal(whole(cache), whole());
    cache.close();
    assert.equal(packCount(), 55, 'the pack is not that of the last whole walk');
    // And it holds what that walk found: alone, it answers for the files it met in order.
    packAnswers(whole, 'pkg/m10/index.js', 'the new pack did not answer');
    // A walk of some paths leaves the whole walk's pack alone.
    cache = DigestCache.open(db);
    checksum({ root: d, paths: ['src'], cache });
    cache.close();
    assert.equal(packCount(), 55);
    // A pack whose count is not the number of its items is not read.
    sql.open();
    const blob = Buffer.from((sql.prepare('SELECT data FROM walk_packs').get() as { data: Uint8Array }).data);
    blob.writeUInt32LE(blob.readUInt32LE(4) - 1, 4);
    sql.prepare('UPDATE walk_packs SET data = ?').run(blob);
    sql.close();
    forgetRows();
    rewrite('pkg/m20/index.js', 'MODULE 20');
    cache = DigestCache.open(db);
    assert.equal(whole(cache), whole(), 'a pack with a wrong count was read');
    cache.close();
    // Back, under another mtime: the cache now holds the other bytes' digest for the old one.
    writeFileSync(join(d, 'pkg/m20/index.js'), 'module 20');
    utimesSync(join(d, 'pkg/m20/index.js'), new Date(Date.now() - 20_000), new Date(Date.now() - 20_000));
    // A blob that is not a pack is not read.
    sql.open();
    sql.exec("UPDATE walk_packs SET data = x'00'");
    sql.close();
    cache = DigestCache.open(db);
    assert.equal(whole(cache), whole());
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
