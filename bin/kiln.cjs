'use strict';
/**
 * kiln's launcher (run by bin/kiln on the project's Node 24). A fully cached build is mostly
 * start-up, so this file exists to make start-up short:
 *
 * - It runs the bundle setup builds (.cache/kiln.cjs) while the bundle is newer than every
 *   source in it; an edited source makes it stale, and then the sources run directly (Node strips
 *   their types) with Node's own compile cache.
 * - It compiles the bundle with a V8 code cache of its own, one per command, written after a
 *   successful run (which run: see SHORT_RUN_MS). Node's compile cache is made right after
 *   compiling, so it holds only the top level of each function that ran eagerly; V8 compiles
 *   every other function on its first call, which for `kiln build` was ~15 ms of each run. A
 *   cache made after the run holds all of them.
 *
 * Plain CommonJS, no dependencies: it must not cost what it saves.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.dirname(__dirname);
const BUNDLE = path.join(ROOT, '.cache', 'kiln.cjs');
const INPUTS = path.join(ROOT, '.cache', 'kiln.inputs');
const SOURCES = path.join(ROOT, 'src');
/**
 * Start-up matters for short runs, so the cache is made to fit them: V8 reads a whole cache at
 * every start, and one written after a long run (a cold build: runc, layer export, copying) is a
 * third bigger than a fully cached build needs. So only a short run writes one (long runs gain
 * little from it), and only when it started without a usable one: a cache written after
 * loading another holds everything the loaded one did.
 */
const SHORT_RUN_MS = 1000;

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '/tmp', '.cache');
  return path.join(base, 'kiln', 'code-cache');
}

/**
 * The bundle's stat when none of the sources it was made from (listed beside it by
 * scripts/bundle.ts) is newer or gone, else undefined.
 */
function freshBundle() {
  let stat;
  let inputs;
  try {
    stat = fs.statSync(BUNDLE);
    inputs = fs.readFileSync(INPUTS, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  for (const f of inputs) {
    if (f === '') continue;
    const s = fs.statSync(`${ROOT}/${f}`, { throwIfNoEntry: false });
    if (s === undefined || s.mtimeMs > stat.mtimeMs) return undefined;
  }
  return stat;
}

/** The command word (`build`, `images`…): each command's run compiles different functions. */
function commandWord(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i].startsWith('-')) return argv[i].replace(/[^a-z-]/g, '') || 'none';
  }
  return 'none';
}

function readOrUndefined(file) {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The bundle's first characters (scripts/bundle.ts): one function taking CommonJS's names. */
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {';

function runBundle(stat) {
  const vm = require('node:vm');
  const { createRequire } = require('node:module');
  const argv = process.argv.slice(2);
  const stamp = `${stat.size}-${Math.trunc(stat.mtimeMs)}-${process.version}`;
  const dir = cacheDir();
  // V8 checks a cache against the source's length only, so the name carries the bundle's stamp.
  const file = path.join(dir, `${commandWord(argv)}-${stamp}.v8`);
  const cached = readOrUndefined(file);
  // scripts/bundle.ts writes the wrapper and only ASCII: Latin-1 text of that size is a string
  // outside V8's heap, compiled as it is (no UTF-8 decoding into two bytes a character, no copy).
  // A bundle made before it did (no wrapper) is read and wrapped as it was.
  let source = fs.readFileSync(BUNDLE, 'latin1');
  if (!source.startsWith(WRAPPER)) source = `${WRAPPER}${fs.readFileSync(BUNDLE, 'utf8')}\n})`;
  const script = new vm.Script(source, {
    filename: BUNDLE,
    cachedData: cached,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const started = Date.now(); // not performance.now(): that loads perf_hooks, ~1.5 ms
  const usable = cached !== undefined && !script.cachedDataRejected;
  if (!usable && !argv.includes('--help') && !argv.includes('-h')) {
    process.once('exit', (code) => {
      if (code === 0 && Date.now() - started < SHORT_RUN_MS) saveCache(dir, file, stamp, script);
    });
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(BUNDLE), mod, BUNDLE, path.dirname(BUNDLE));
}

/** Write the cache atomically; drop caches of other bundles. Best effort: a cache is never needed. */
function saveCache(dir, file, stamp, script) {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, file);
    for (const name of fs.readdirSync(dir)) {
      if (!name.includes(stamp) && !name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
    }
  } catch {
    // read-only home, full disk: run without a cache next time
  }
}

function runSources() {
  const { enableCompileCache } = require('node:module');
  enableCompileCache(path.join(cacheDir(), '..', 'node-compile-cache'));
  import(path.join(SOURCES, 'cli', 'main.ts'));
}

require('./prestat.cjs').startPrestat(process.argv.slice(2));
const stat = freshBundle();
if (stat) runBundle(stat);
else runSources();
