/**
 * bin/kiln and its launcher, on a copy of bin/ beside a stand-in bundle and sources: the bundle
 * runs while it is newer than the sources it lists (.cache/kiln.inputs), else the sources run; a V8 code cache is written after a
 * successful run only, replaced when V8 rejects it, and named for the bundle it was made from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const REPO = join(import.meta.dirname, '..', '..', '..');
let tree: string;
let cache: string;

const BUNDLE = `
function greet(words) { return 'bundle ' + words.join(' '); }
process.stdout.write(greet(process.argv.slice(2)));
if (process.argv.includes('fail')) process.exitCode = 3;
if (process.argv.includes('slow')) { const end = Date.now() + 1100; while (Date.now() < end); }
if (process.argv.includes('--show-prestat')) process.stdout.write(' prestat=' + (globalThis[Symbol.for('kiln.prestat')]?.root ?? 'none'));
`;

function kiln(...args: string[]) {
  const r = spawnSync(join(tree, 'bin', 'kiln'), args, {
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: cache },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const cacheFiles = () => readdirSync(join(cache, 'kiln', 'code-cache')).sort();

before(() => {
  tree = mkdtempSync(join(tmpdir(), 'kiln-launcher-'));
  cache = join(tree, 'xdg-cache');
  mkdirSync(join(tree, 'bin'));
  for (const f of ['kiln', 'kiln.cjs', 'prestat.cjs', 'prestat-walker.cjs'])
    copyFileSync(join(REPO, 'bin', f), join(tree, 'bin', f));
  mkdirSync(join(tree, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules', '.bin', 'node'), join(tree, 'node_modules', '.bin', 'node'));
  mkdirSync(join(tree, 'src', 'cli'), { recursive: true });
  writeFileSync(join(tree, 'src', 'cli', 'main.ts'), "const from: string = 'sources';\nconsole.log(from);\n");
  mkdirSync(join(tree, '.cache'));
  writeFileSync(join(tree, '.cache', 'kiln.cjs'), BUNDLE);
  writeFileSync(join(tree, '.cache', 'kiln.inputs'), 'src/cli/main.ts\n');
  // The bundle is newer than the sources, as setup leaves it.
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(tree, 'src', 'cli', 'main.ts'), past, past);
});
after(() => rmSync(tree, { recursive: true, force: true }));

describe('bin/kiln launcher', () => {
  it('runs the fresh bundle and writes no cache after a failing run', () => {
    const r = kiln('build', 'fail');
    assert.equal(r.code, 3, r.err);
    assert.equal(r.out, 'bundle build fail');
    assert.throws(() => cacheFiles(), /ENOENT/);
  });

  it('writes a code cache per command after a successful run, and keeps a cache V8 accepts', () => {
    assert.equal(kiln('build', 'x').out, 'bundle build x');
    const [file] = cacheFiles();
    assert.match(file, /^build-\d+-\d+-v24\.[\d.]+\.v8$/);
    const path = join(cache, 'kiln', 'code-cache', file);
    const made = statSync(path).mtimeMs;
    assert.equal(kiln('build', 'y').out, 'bundle build y');
    assert.equal(statSync(path).mtimeMs, made, 'an accepted cache is not rewritten by a short run');
    assert.equal(kiln('--root', '/r', 'images').out, 'bundle --root /r images');
    assert.deepEqual(
      cacheFiles().map((f) => f.split('-')[0]),
      ['build', 'images'],
    );
  });

  it('only a short run writes a cache', () => {
    assert.equal(kiln('push', 'slow').out, 'bundle push slow');
    assert.equal(cacheFiles().filter((f) => f.startsWith('push-')).length, 0);
    kiln('push', 'quick');
    assert.equal(cacheFiles().filter((f) => f.startsWith('push-')).length, 1);
  });

  it('replaces a cache V8 rejects', () => {
    const path = join(cache, 'kiln', 'code-cache', cacheFiles()[0]);
    writeFileSync(path, 'not a code cache');
    assert.equal(kiln('build', 'z').out, 'bundle build z');
    assert.notEqual(readFileSync(path, 'utf8'), 'not a code cache');
  });

  it('names caches for the bundle, and drops those of an older bundle', () => {
    const before = cacheFiles();
    // Same length, different code: V8 alone would accept the old cache.
    writeFileSync(join(tree, '.cache', 'kiln.cjs'), BUNDLE.replace('bundle ', 'BUNDLE '));
    assert.equal(kiln('build', 'w').out, 'BUNDLE build w');
    const now = cacheFiles();
    assert.equal(now.length, 1);
    assert.ok(!before.includes(now[0]));
  });

  it('pre-stats the context of a build the last build of which left a hint, and no other', () => {
    const ctx = join(tree, 'ctx');
    mkdirSync(ctx, { recursive: true });
    assert.match(kiln('build', '--show-prestat', ctx).out, / prestat=none$/);
    const { hintFile } = createRequire(import.meta.url)('../../../bin/prestat.cjs') as {
      hintFile(root: string): string;
    };
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cache;
    const hint = hintFile(ctx);
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    mkdirSync(dirname(hint), { recursive: true });
    writeFileSync(hint, '');
    assert.ok(
      kiln('build', '--show-prestat', ctx).out.endsWith(` prestat=${ctx}`),
      'not started with a hint',
    );
    assert.match(kiln('images', '--show-prestat', ctx).out, / prestat=none$/);
    assert.match(kiln('build', '--show-prestat', '-').out, / prestat=none$/);
  });

  it('keeps the bundle when a source that is not in it changes', () => {
    writeFileSync(join(tree, 'src', 'cli', 'main.test.ts'), 'export {};\n');
    assert.equal(kiln('build', 'v').out, 'BUNDLE build v');
  });

  it('runs the sources when one is newer than the bundle', () => {
    writeFileSync(
      join(tree, 'src', 'cli', 'main.ts'),
      "const from: string = 'edited sources';\nconsole.log(from);\n",
    );
    const r = kiln('build');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'edited sources\n');
  });

  it('says how to install Node when it is missing', () => {
    rmSync(join(tree, 'node_modules'), { recursive: true });
    const r = kiln('--version');
    assert.equal(r.code, 1);
    assert.match(r.err, /Node 24 is not installed .*scripts\/setup\.sh/);
  });
});
