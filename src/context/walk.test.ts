/**
 * tonistiigi/fsutil's filter tests (transcribed in shared/testdata/dockerignore) run
 * against our context walker, including the permission cases as an unprivileged child process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sharedTestdata } from '../testing/shared-testdata.ts';
import { DirFS, FilterFS, type WalkEntry, type WalkFS, walkContext } from './walk.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON test tables
type Case = any;
const cases: Case[] = JSON.parse(
  readFileSync(sharedTestdata('dockerignore', 'fsutil_filter_test.json'), 'utf8'),
);

const tmpRoots: string[] = [];
after(() => {
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});

function buildTree(lines: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-walk-'));
  chmodSync(root, 0o755);
  tmpRoots.push(root);
  for (const line of lines) {
    const m = /^ADD (\S+) (\S+) ?(.*)$/.exec(line);
    if (!m) throw new Error(`bad tree line ${line}`);
    const [, path, type, extra] = m;
    const abs = join(root, path);
    if (type === 'dir') mkdirSync(abs, { mode: 0o755 });
    else if (type === 'symlink') symlinkSync(extra, abs);
    else if (type === 'file' && extra.startsWith('>')) linkSync(join(root, extra.slice(1)), abs);
    else if (type === 'file') writeFileSync(abs, extra, { mode: 0o644 });
    else throw new Error(`unsupported type ${type}`);
  }
  return root;
}

function line(e: WalkEntry): string {
  return e.type === 'symlink' ? `symlink:${e.linkTarget} ${e.path}` : `${e.type} ${e.path}`;
}

function layered(root: string, layers: Case[]): WalkFS {
  let fs: WalkFS = new DirFS(root);
  for (const l of layers) fs = new FilterFS(fs, { ...l, root });
  return fs;
}

function collect(fs: WalkFS, target: string): string[] {
  const out: string[] = [];
  fs.walk(target, (_p, e, err) => {
    if (err) throw err;
    out.push(line(e));
    return undefined;
  });
  return out;
}

/** The same walk one entry at a time (Walker.step), as a checksum in steps takes it. */
function collectInSteps(fs: WalkFS, target: string): string[] {
  const out: string[] = [];
  const w = fs.walker(target, (_p, e, err) => {
    if (err) throw err;
    out.push(line(e));
    return undefined;
  });
  while (!w.step(1)) {
    // one entry a step
  }
  return out;
}

/** Runs a walk as uid/gid 65534 so that mode-0000 directories really are unreadable. */
function walkAsNobody(root: string, filter: Case): { ok: boolean; lines?: string[]; error?: string } {
  const script = `
    import { walkContext } from ${JSON.stringify(join(import.meta.dirname, 'walk.ts'))};
    try {
      const lines = walkContext(${JSON.stringify(root)}, ${JSON.stringify(filter ?? {})}).map((e) => e.type + ' ' + e.path);
      console.log(JSON.stringify({ ok: true, lines }));
    } catch (err) { console.log(JSON.stringify({ ok: false, error: String(err.message) })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    uid: 65534,
    gid: 65534,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('fsutil filter cases', () => {
  for (const c of cases) {
    it(`${c.kind} ${c.name}`, () => {
      const root = buildTree(c.tree);
      switch (c.kind) {
        case 'walk': {
          if (c.setup?.chmod) {
            assert.equal(
              process.getuid?.(),
              0,
              'the permission cases need root to switch to an unprivileged uid',
            );
            for (const [p, mode] of Object.entries(c.setup.chmod))
              chmodSync(join(root, p), Number.parseInt(mode as string, 8));
            const r = walkAsNobody(root, c.filter);
            if (c.expectError) {
              assert.equal(r.ok, false, JSON.stringify(r));
              assert.match(r.error ?? '', new RegExp(c.expectedErrorContains, 'i'));
            } else {
              assert.deepEqual(r, { ok: true, lines: c.expected });
            }
            return;
          }
          if (c.expectError) {
            assert.throws(() => walkContext(root, c.filter ?? {}));
            return;
          }
          assert.deepEqual(walkContext(root, c.filter ?? {}).map(line), c.expected);
          assert.deepEqual(collectInSteps(new FilterFS(new DirFS(root), c.filter ?? {}), ''), c.expected);
          return;
        }
        case 'newFilterFS':
          assert.throws(() => new FilterFS(new DirFS(root), c.filter));
          return;
        case 'walkCallbackSkipDir': {
          const seen: string[] = [];
          new FilterFS(new DirFS(root), c.filter).walk('', (p) => {
            seen.push(p);
            return 'skip';
          });
          assert.deepEqual(seen, c.expectedVisitedPaths);
          return;
        }
        case 'fsWalk':
          assert.deepEqual(collect(layered(root, c.filterLayers), c.target), c.expected);
          assert.deepEqual(collectInSteps(layered(root, c.filterLayers), c.target), c.expected);
          return;
        case 'filteredOpen': {
          const fs = layered(root, c.filterLayers);
          if (c.expectedWalk) assert.deepEqual(collect(fs, ''), c.expectedWalk);
          const filters = c.filterLayers.map((l: Case) => new FilterFS(new DirFS(root), l));
          for (const o of c.open) {
            const allowed = filters.every((f: FilterFS) => f.allows(o.path));
            assert.equal(allowed, o.ok, o.path);
            if (o.ok && o.content !== undefined)
              assert.equal(readFileSync(join(root, o.path), 'utf8'), o.content);
          }
          return;
        }
        default:
          assert.fail(`unhandled kind ${c.kind}`);
      }
    });
  }
});

describe('walk order and entries', () => {
  it('sorts each directory byte-wise and lists a directory before its contents', () => {
    const root = buildTree(['ADD foo dir', 'ADD foo/bar file', 'ADD foo-x file', 'ADD Z file', 'ADD é file']);
    assert.deepEqual(
      walkContext(root).map((e) => e.path),
      ['Z', 'foo', 'foo/bar', 'foo-x', 'é'],
    );
  });
  it('reports size, mode, inode and microsecond mtime', () => {
    const root = buildTree(['ADD a file hello', 'ADD b file >a']);
    const [a, b] = walkContext(root);
    assert.equal(a.size, 5);
    assert.equal(a.mode & 0o7777, 0o644);
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 2);
    assert.ok(Number.isInteger(a.mtimeUs) && Math.abs(a.mtimeUs / 1000 - Date.now()) < 60_000);
  });
  it('a directory replaced by a file while it is walked is SOURCE_CHANGED, not an error of lstat', () => {
    const root = buildTree(['ADD d dir', 'ADD d/a file', 'ADD d/b file']);
    assert.throws(
      () =>
        new DirFS(root).walk('', (p) => {
          // d is listed; before d/b is looked at, d becomes a file.
          if (p === 'd/a') {
            rmSync(join(root, 'd'), { recursive: true });
            writeFileSync(join(root, 'd'), 'now a file');
          }
          return undefined;
        }),
      (err: Error & { code?: string }) => err.code === 'SOURCE_CHANGED' && /d\/b/.test(err.message),
    );
  });
  it('does not descend into an excluded directory without exceptions', () => {
    const root = buildTree([
      'ADD node_modules dir',
      'ADD node_modules/x file',
      'ADD src dir',
      'ADD src/a file',
    ]);
    const seen: string[] = [];
    new FilterFS(new DirFS(root), { excludePatterns: ['node_modules'] }).walk('', (p) => {
      seen.push(p);
      return undefined;
    });
    assert.deepEqual(seen, ['src', 'src/a']);
  });
});
