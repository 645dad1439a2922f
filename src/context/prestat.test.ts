/**
 * The context pre-stat (bin/prestat.cjs starts the walker as the launcher does): the walk's
 * result with it is the walk's result without it, whatever the walker leaves out, fails on or
 * stalls on; a digest is never cached under an identity a file no longer has.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { encodeName } from '../sys/fsname.ts';
import { checksum } from './checksum.ts';
import { DigestCache } from './digestcache.ts';
import {
  hintFile,
  PRESTAT_WORTH,
  PRESTAT_WORTH_PARALLEL,
  prestatFor,
  prestatWorth,
  resetPrestat,
  walkedPast,
} from './prestat.ts';

const launcher = createRequire(import.meta.url)('../../bin/prestat.cjs') as {
  startPrestat(argv: string[], budget?: number): void;
  hintFile(root: string): string;
};
const KEY_HOME = mkdtempSync(join(tmpdir(), 'kiln-prestat-cache-'));
process.env.XDG_CACHE_HOME = KEY_HOME;

/** What the launcher does for `kiln build root`, once the build before left its hint. */
function startPrestat(argv: string[]): void {
  leaveHint(argv[argv.length - 1]);
  launcher.startPrestat(argv);
}

function leaveHint(root: string): void {
  mkdirSync(dirname(hintFile(root)), { recursive: true });
  writeFileSync(hintFile(root), root);
}
const KEY = Symbol.for('kiln.prestat');

const dirs: string[] = [KEY_HOME];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  resetPrestat();
  delete (globalThis as Record<symbol, unknown>)[KEY];
});

function tree(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-prestat-'));
  dirs.push(d);
  for (let i = 0; i < 30; i++) {
    mkdirSync(join(d, `src/d${i}/deep`), { recursive: true });
    writeFileSync(join(d, `src/d${i}/f.txt`), `file ${i}`);
    writeFileSync(join(d, `src/d${i}/deep/g.txt`), `deep ${i}`);
  }
  mkdirSync(join(d, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(d, 'node_modules/pkg/index.js'), 'module');
  symlinkSync('src/d1/f.txt', join(d, 'link'));
  writeFileSync(join(d, 'Dockerfile'), 'FROM scratch\n');
  return d;
}

/**
 * What the launcher leaves for a walk of `root`, its walker's output being `written` (and no more,
 * ever): the real protocol without a process behind it. Counts the times the walker is stopped.
 */
function launchedOn(root: string, written: Buffer): { stopped: number } {
  const out = `${root}-walker-out`;
  dirs.push(out);
  writeFileSync(out, written);
  const walker = { stopped: 0 };
  resetPrestat();
  (globalThis as Record<symbol, unknown>)[KEY] = {
    root,
    fd: openSync(out, 'r'),
    stop: () => walker.stopped++,
    started: Date.now(),
  };
  return walker;
}

/** Past the margin a fingerprint keeps from the last change (ctime, which utimes cannot set back). */
const quietly = () => new Promise((r) => setTimeout(r, 150));

/** Wait until the walker started for `root` has written everything. */
async function walked(root: string): Promise<void> {
  const p = prestatFor(root);
  assert.ok(p, 'no pre-stat was started');
  while (!p.finished()) await new Promise((r) => setTimeout(r, 5));
}

/** The checksum of the whole context with the walker started for it, once it has finished. */
async function withPrestat(root: string, opts: { excludePatterns?: string[]; cache?: DigestCache } = {}) {
  resetPrestat();
  startPrestat(['build', root]);
  await walked(root);
  const sum = checksum({ root, paths: ['.'], ...opts });
  return { sum, handed: prestatFor(root)?.handed ?? -1 };
}

describe('context pre-stat', () => {
  it('gives the walk what it would have read itself', async () => {
    const d = tree();
    const plain = checksum({ root: d, paths: ['.'] });
    const { sum, handed } = await withPrestat(d);
    assert.equal(sum, plain);
    assert.ok(handed >= 60, `only ${handed} listings came from the walker`);
  });

  it('answers for what the walk took: the lstat the walker made, nothing for what it did not list', async () => {
    const d = tree();
    await withPrestat(d);
    const p = prestatFor(d);
    assert.ok(p);
    for (const rel of ['src/d7/f.txt', 'src/d12/deep', 'link', 'Dockerfile', 'node_modules/pkg/index.js']) {
      const want = lstatSync(join(d, rel));
      assert.deepEqual(
        p.stat(rel),
        { mode: want.mode, size: want.size, mtimeMs: want.mtimeMs, nlink: want.nlink, ctimeMs: want.ctimeMs },
        rel,
      );
    }
    assert.equal(p.stat('src/d7/none'), undefined);
    assert.equal(p.stat('none/f.txt'), undefined, 'a directory that is not there');
    // As old as the walk: a file changed since still shows what the walk saw.
    const before = p.stat('src/d3/f.txt');
    writeFileSync(join(d, 'src/d3/f.txt'), 'changed, and longer');
    assert.deepEqual(p.stat('src/d3/f.txt'), before);
    resetPrestat();
    assert.equal(p.stat('src/d7/f.txt'), undefined, 'closed, it keeps nothing');
  });

  it('leaves out what .dockerignore names, and the walk agrees with or without it', async () => {
    const d = tree();
    writeFileSync(join(d, '.dockerignore'), 'node_modules\n**/deep\n');
    const excludePatterns = ['node_modules', '**/deep'];
    const plain = checksum({ root: d, paths: ['.'], excludePatterns });
    const { sum, handed } = await withPrestat(d, { excludePatterns });
    assert.equal(sum, plain);
    assert.ok(handed >= 30, `only ${handed} listings came from the walker`);
    // Not even listed: the walk that wants it reads it itself, without waiting.
    const d2 = tree();
    writeFileSync(join(d2, '.dockerignore'), 'node_modules\n');
    const all = checksum({ root: d2, paths: ['.'] });
    const got = await withPrestat(d2);
    assert.equal(got.sum, all, 'a directory the walker left out was missed');
    assert.ok(got.handed >= 60);
  });

  it('stops at its budget, and the walk reads the rest itself', async () => {
    const d = tree();
    const plain = checksum({ root: d, paths: ['.'] });
    resetPrestat();
    leaveHint(d);
    launcher.startPrestat(['build', d], 40);
    await walked(d);
    assert.equal(checksum({ root: d, paths: ['.'] }), plain);
    const handed = prestatFor(d)?.handed ?? 0;
    assert.ok(handed > 0 && handed < 20, `${handed} listings within a budget of 40 entries`);
  });

  it('reads a directory with a name that is not UTF-8 itself', async () => {
    const d = tree();
    writeFileSync(encodeName(join(d, 'src/d3/caf\udce9')), 'latin-1 name');
    const plain = checksum({ root: d, paths: ['.'] });
    const { sum, handed } = await withPrestat(d);
    assert.equal(sum, plain);
    assert.ok(handed >= 60);
  });

  it('never caches a digest under the identity the walker saw when the file has changed since', async () => {
    const d = tree();
    const cache = DigestCache.open(join(d, '..', `${d.split('/').pop()}-digests.db`));
    dirs.push(`${d}-digests.db`, `${d}-digests.db-wal`, `${d}-digests.db-shm`);
    const file = join(d, 'src/d2/f.txt');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    resetPrestat();
    startPrestat(['build', d]);
    await walked(d);
    // Changed after the walker's lstat, before the walk hashes it.
    writeFileSync(file, 'changed, longer than before');
    const newer = new Date(Date.now() - 30_000);
    utimesSync(file, newer, newer);
    const withPre = checksum({ root: d, paths: ['.'], cache });
    assert.ok((prestatFor(d)?.handed ?? 0) >= 60, 'the walk did not use the pre-stat');
    resetPrestat();
    assert.equal(withPre, checksum({ root: d, paths: ['.'] }), 'the changed content was not hashed');
    // Put back as the walker saw it (same size, time, inode, mode): a digest cached under that
    // identity during the walk above would be the changed content's.
    writeFileSync(file, 'file 2');
    utimesSync(file, old, old);
    assert.equal(
      checksum({ root: d, paths: ['.'], cache }),
      checksum({ root: d, paths: ['.'] }),
      'a digest was cached under the identity the walker saw',
    );
    cache.close();
  });

  it('goes on alone when the walker stalls, and ignores a pre-stat of another directory', async () => {
    const d = tree();
    const plain = checksum({ root: d, paths: ['.'] });
    // A walker that never writes: the real protocol (an empty file), no process behind it.
    const walker = launchedOn(d, Buffer.alloc(0));
    const t = Date.now();
    assert.equal(checksum({ root: d, paths: ['.'] }), plain);
    assert.ok(Date.now() - t < 2_000, 'waited on the stalled walker for every directory');
    assert.equal(prestatFor(d), undefined, 'a stalled pre-stat is closed');
    assert.equal(walker.stopped, 1, 'and its walker killed');
    const other = tree();
    resetPrestat();
    startPrestat(['build', other]);
    assert.equal(prestatFor(d), undefined);
    assert.equal(checksum({ root: d, paths: ['.'] }), plain);
  });

  it('takes the whole records of a walker killed halfway, and reads the rest itself', () => {
    const d = tree();
    const plain = checksum({ root: d, paths: ['.'] });
    // The walker's own output, cut in the middle of a record, as a SIGKILL can leave it.
    const whole = execFileSync(process.execPath, [
      join(import.meta.dirname, '../../bin/prestat-walker.cjs'),
      d,
    ]);
    const walker = launchedOn(d, whole.subarray(0, Math.floor(whole.length / 2)));
    const p = prestatFor(d);
    assert.equal(checksum({ root: d, paths: ['.'] }), plain);
    assert.ok((p?.handed ?? 0) > 10, `only ${p?.handed} whole records were taken`);
    assert.equal(walker.stopped, 1, 'the stalled walker was not stopped');
    resetPrestat();
  });

  it('is started only for a context whose last walk was big, as the build notes it', () => {
    const d = tree();
    assert.equal(hintFile(d), launcher.hintFile(d), 'the launcher and the build name the hint differently');
    assert.equal(hintFile(`${d}/é`), launcher.hintFile(`${d}/é`));
    resetPrestat();
    launcher.startPrestat(['build', d]);
    assert.equal((globalThis as Record<symbol, unknown>)[KEY], undefined, 'started without a hint');
    // A whole-context walk of a small context leaves none; a big one does, and a small one again
    // removes it — for the context `kiln build DIR` names only.
    const argv = process.argv;
    after(() => {
      process.argv = argv;
    });
    for (let i = 0; i < PRESTAT_WORTH; i++) writeFileSync(join(d, `src/d1/n${i}`), '');
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(
      existsSync(hintFile(d)),
      false,
      'a walk of another context than the build named left a hint',
    );
    rmSync(join(d, 'src/d1'), { recursive: true });
    mkdirSync(join(d, 'src/d1/deep'), { recursive: true });
    process.argv = [argv[0], argv[1], '--root', '/r', 'build', '-t', 'x', d];
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(existsSync(hintFile(d)), false);
    leaveHint(d);
    launcher.startPrestat(['build', d]);
    assert.notEqual((globalThis as Record<symbol, unknown>)[KEY], undefined, 'not started with a hint');
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(existsSync(hintFile(d)), false, 'a small walk left the hint');
    for (let i = 0; i < PRESTAT_WORTH; i++) writeFileSync(join(d, `src/d0/n${i}`), '');
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(existsSync(hintFile(d)), true, 'a big walk left no hint');
    // A new hint removes those of contexts that are gone.
    const gone = tree();
    leaveHint(gone);
    rmSync(gone, { recursive: true });
    rmSync(hintFile(d));
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(existsSync(hintFile(d)), true);
    assert.equal(existsSync(hintFile(gone)), false, 'the hint of a context that is gone stayed');
    process.argv = argv;
  });

  it('is worth a smaller tree with a second CPU than with one', () => {
    // With a second CPU the walker runs while kiln starts; on one it competes with that start.
    assert.equal(prestatWorth(1), PRESTAT_WORTH);
    assert.equal(prestatWorth(2), PRESTAT_WORTH_PARALLEL);
    assert.equal(prestatWorth(64), PRESTAT_WORTH_PARALLEL);
    assert.ok(PRESTAT_WORTH_PARALLEL < PRESTAT_WORTH);
    // What the build notes follows this machine's CPUs: a tree of the smaller size leaves a hint
    // exactly when there are two or more.
    const d = tree();
    const argv = process.argv;
    after(() => {
      process.argv = argv;
    });
    process.argv = [argv[0], argv[1], 'build', d];
    for (let i = 0; i < PRESTAT_WORTH_PARALLEL; i++) writeFileSync(join(d, `src/d1/n${i}`), '');
    checksum({ root: d, paths: ['.'], localContext: true });
    assert.equal(existsSync(hintFile(d)), availableParallelism() >= 2);
    rmSync(hintFile(d), { force: true });
    process.argv = argv;
  });

  it('fingerprints the whole tree: the same for the same tree, another after any change', async () => {
    const d = tree();
    await quietly();
    const print = async () => {
      resetPrestat();
      startPrestat(['build', d]);
      await walked(d);
      return prestatFor(d)?.fingerprint();
    };
    const first = await print();
    assert.ok(first, 'a whole walk has a fingerprint');
    assert.equal(first.quiet, true, 'nothing changed just before it');
    assert.deepEqual(await print(), first, 'the same tree');
    assert.equal(prestatFor(d)?.handed, 0, 'the listings stay for a walk');
    const seen = new Set([first.digest]);
    const differs = async (what: string, change: () => void) => {
      change();
      await quietly();
      const now = await print();
      assert.ok(now && !seen.has(now.digest), `${what}: the same fingerprint`);
      seen.add(now.digest);
    };
    // The same size and times as before: only the ctime (and the content) tells.
    await differs('an edit with its size and times put back', () =>
      writeFileSync(join(d, 'src/d4/f.txt'), 'FILE 4'),
    );
    await differs('a chmod', () => chmodSync(join(d, 'src/d5/f.txt'), 0o600));
    await differs('a new file deep down', () => writeFileSync(join(d, 'src/d6/deep/new'), ''));
    await differs('a removed file', () => rmSync(join(d, 'src/d6/deep/new')));
    await differs('the root itself', () => chmodSync(d, 0o750));
    writeFileSync(join(d, 'src/d7/f.txt'), 'just now');
    const fresh = await print();
    assert.equal(fresh?.quiet, false, 'a file changed just before the walk: not quiet');
  });

  it('has no fingerprint when the walker left anything out, stopped or stalled', async () => {
    const d = tree();
    resetPrestat();
    leaveHint(d);
    launcher.startPrestat(['build', d], 40);
    await walked(d);
    assert.equal(prestatFor(d)?.fingerprint(), undefined, 'over its budget');
    const whole = execFileSync(process.execPath, [
      join(import.meta.dirname, '../../bin/prestat-walker.cjs'),
      d,
    ]);
    launchedOn(d, whole.subarray(0, Math.floor(whole.length / 2)));
    assert.equal(prestatFor(d)?.fingerprint(), undefined, 'killed halfway');
    launchedOn(d, whole);
    assert.ok(prestatFor(d)?.fingerprint(), 'the same output, whole');
    // bin/kiln's walker for a context named like one with a hint, without its own: only its end.
    launchedOn(d, whole.subarray(whole.length - 16));
    assert.equal(prestatFor(d)?.fingerprint(), undefined, 'a walker that did not walk');
    // A directory .dockerignore names is not listed: what it holds is not in the fingerprint.
    writeFileSync(join(d, '.dockerignore'), 'node_modules\n');
    resetPrestat();
    startPrestat(['build', d]);
    await walked(d);
    assert.equal(prestatFor(d)?.fingerprint(), undefined, 'a directory left out for .dockerignore');
    resetPrestat();
  });

  it('orders directories as the walk visits them', () => {
    assert.equal(walkedPast('b', 'a/z'), true);
    assert.equal(walkedPast('a/z', 'b'), false);
    assert.equal(walkedPast('a', 'a/b'), false);
    assert.equal(walkedPast('a/b', 'a'), true);
    assert.equal(walkedPast('a', ''), true);
    assert.equal(walkedPast('', 'a'), false);
    assert.equal(walkedPast('a.b', 'a/c'), true, 'a and what is under it come before a.b');
  });
});
