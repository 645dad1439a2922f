/**
 * bin/kiln and its launcher, on a copy of bin/ beside a stand-in bundle and sources: the bundle
 * runs while it is newer than the sources it lists (.cache/kiln.inputs), else the sources run; a V8 code cache is written after a
 * successful run only, replaced when V8 rejects it, and named for the bundle it was made from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
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
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const REPO = join(import.meta.dirname, '..', '..', '..');
let tree: string;
let cache: string;

const BUNDLE = `
function greet(words) { return 'bundle ' + words.join(' '); }
process.stdout.write(greet(process.argv.slice(2)));
if (process.argv.includes('fail')) process.exitCode = 3;
if (process.argv.includes('slow')) { const end = Date.now() + 1100; while (Date.now() < end); }
if (process.argv.includes('--show-tunables')) process.stdout.write(' tunables=' + process.env.GLIBC_TUNABLES);
if (process.argv.includes('--show-prestat')) process.stdout.write(' prestat=' + (globalThis[Symbol.for('kiln.prestat')]?.root ?? 'none'));
if (process.argv.includes('--show-output')) {
  // The walker's output as kiln holds it, once the walker is done: its size and links, whether a
  // process kiln starts sees it (its descriptors, its environment), and what is left beside hints.
  const fs = require('node:fs');
  const p = globalThis[Symbol.for('kiln.prestat')];
  const end = Date.now() + 5000;
  let st = fs.fstatSync(p.fd);
  while (Date.now() < end && !fs.readFileSync('/proc/self/fd/' + p.fd).subarray(-16).equals(Buffer.from([3, ...Array(15).fill(0)]))) st = fs.fstatSync(p.fd);
  st = fs.fstatSync(p.fd);
  const child = require('node:child_process').execFileSync('/bin/sh', ['-c', 'ls -l /proc/$$/fd; env'], { encoding: 'utf8' });
  // Kiln's descriptor is close-on-exec (O_CLOEXEC in its flags), the shell's (9) is closed.
  const flags = /flags:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + p.fd, 'utf8'))[1];
  let nine;
  try { nine = fs.fstatSync(9); } catch {}
  const leaked = /prestat|deleted|KILN_PRESTAT/.test(child) || (nine !== undefined && nine.ino === st.ino && nine.dev === st.dev) || (parseInt(flags, 8) & 0o2000000) === 0;
  process.stdout.write(' output=' + st.size + ',' + st.nlink + ' leaked=' + leaked);
}
`;

/** `bin/kiln ARGS…`; a last argument that is an object adds to the environment. */
function kiln(...args: (string | Record<string, string>)[]) {
  const last = args[args.length - 1];
  const env = typeof last === 'object' ? (args.pop() as Record<string, string>) : {};
  const r = spawnSync(join(tree, 'bin', 'kiln'), args as string[], {
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: cache, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
/** Where a build leaves the hint to pre-stat `root` (bin/prestat.cjs hintFile, in this test's cache). */
function hintFor(root: string): string {
  const { hintFile } = createRequire(import.meta.url)('../../../bin/prestat.cjs') as {
    hintFile(root: string): string;
  };
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = cache;
  try {
    return hintFile(root);
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
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

  it("asks glibc's malloc for huge pages and a heap for blocks under 32 MiB, keeping the user's own tunables", () => {
    const ours = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432';
    assert.equal(
      kiln('images', '--show-tunables', { GLIBC_TUNABLES: '' }).out,
      `bundle images --show-tunables tunables=${ours}`,
    );
    assert.equal(
      kiln('images', '--show-tunables', { GLIBC_TUNABLES: 'glibc.malloc.check=0' }).out,
      `bundle images --show-tunables tunables=glibc.malloc.check=0:${ours}`,
    );
    // glibc takes the last setting of a name: one the user made is not followed by ours.
    const user = 'glibc.malloc.mmap_threshold=4096:glibc.malloc.hugetlb=0';
    assert.equal(
      kiln('images', '--show-tunables', { GLIBC_TUNABLES: user }).out,
      `bundle images --show-tunables tunables=${user}`,
    );
    assert.equal(
      kiln('images', '--show-tunables', { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).out,
      'bundle images --show-tunables tunables=glibc.malloc.hugetlb=0:glibc.malloc.mmap_threshold=33554432',
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

  it('runs a bundle as scripts/bundle.ts writes it: one function, in ASCII', () => {
    const file = join(tree, '.cache', 'kiln.cjs');
    const before = readFileSync(file, 'utf8');
    try {
      writeFileSync(
        file,
        `(function (exports, require, module, __filename, __dirname) {${BUNDLE.replace('bundle ', 'wrapped ')}\n})`,
      );
      const r = kiln('build', 'v');
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'wrapped build v');
    } finally {
      writeFileSync(file, before);
    }
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
    const hint = hintFor(ctx);
    mkdirSync(dirname(hint), { recursive: true });
    writeFileSync(hint, '');
    assert.ok(
      kiln('build', '--show-prestat', ctx).out.endsWith(` prestat=${ctx}`),
      'not started with a hint',
    );
    assert.match(kiln('images', '--show-prestat', ctx).out, / prestat=none$/);
    assert.match(kiln('build', '--show-prestat', '-').out, / prestat=none$/);
  });

  it('starts the walker before Node, for a context named like one with a hint, and no further than kiln', () => {
    const ctx = join(tree, 'named', 'ctx');
    const other = join(tree, 'other', 'ctx');
    mkdirSync(join(ctx, 'sub'), { recursive: true });
    mkdirSync(other, { recursive: true });
    writeFileSync(join(ctx, 'sub', 'f'), 'x');
    const hints = dirname(hintFor(ctx));
    rmSync(hints, { recursive: true, force: true });
    mkdirSync(hints, { recursive: true });
    writeFileSync(hintFor(ctx), ctx);
    // No temporary directory: the launcher could start no walker of its own, so bin/kiln did.
    const noTmp = { TMPDIR: join(tree, 'no-such-dir') };
    const r = kiln('build', '--show-prestat', '--show-output', ctx, noTmp);
    assert.equal(r.code, 0, r.err);
    const walked = / prestat=(\S+) output=(\d+),(\d+) leaked=(\w+)$/.exec(r.out);
    assert.ok(walked, r.out);
    assert.equal(walked[1], ctx);
    assert.ok(Number(walked[2]) > 100, `the walker wrote ${walked[2]} bytes`);
    assert.equal(walked[3], '0', 'the output still has a name');
    assert.equal(walked[4], 'false', 'a process kiln started saw the walker or its output');
    assert.deepEqual(readdirSync(hints), [basename(hintFor(ctx))], 'bin/kiln left a file beside the hints');
    // Another context of the same name: started, but it writes nothing besides its end.
    const same = kiln('build', '--show-prestat', '--show-output', other, noTmp);
    assert.match(same.out, new RegExp(` prestat=${other} output=16,0 leaked=false$`));
    // A name planted where bin/kiln creates the output: nothing is opened through it, the sentinel
    // it points to outside is not created, and the launcher starts the walker instead.
    const sentinel = join(tree, 'outside-sentinel');
    const planted = spawnSync(
      '/bin/sh',
      [
        '-c',
        'ln -s "$1" "$2/run-$$" && exec "$3" build --show-prestat "$4"',
        'sh',
        sentinel,
        hints,
        join(tree, 'bin', 'kiln'),
        ctx,
      ],
      { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache } },
    );
    assert.equal(planted.status, 0, planted.stderr);
    assert.ok(planted.stdout.endsWith(` prestat=${ctx}`), planted.stdout);
    assert.equal(existsSync(sentinel), false, 'bin/kiln wrote through a planted link');
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
