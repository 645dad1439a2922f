/**
 * `npm run bundle`: the CLI's start-up cache, .cache/kiln.cjs (run by bin/kiln.cjs while it is
 * fresh). One CommonJS file: an ES module import of a Node built-in evaluates every export
 * getter (node:http alone pulled in undici, ~60 ms). Two more things shorten a start:
 *
 * - Built-ins that a fully cached build never calls (child_process, zlib, worker_threads, tls,
 *   net, http, https, readline/promises) are bound to a proxy that requires the real module on
 *   first use. commander loads child_process for executable subcommands kiln does not have;
 *   runc, mounts, compression and registries reach theirs only when a step runs or a layer
 *   moves. Together ~6 ms per start; http and https (the server's module, which `kiln --version`
 *   and `--help` initialise with every command) ~9 ms more of theirs (0.91x paired).
 * - It is written without whitespace, and .cache/kiln.inputs lists the sources in it.
 * - `yaml` stays in node_modules (required when a YAML build file is read): a quarter of the
 *   bundle's bytes, which every start would compile or deserialize.
 * - `import x from 'node:…'` makes esbuild copy the module's ~100 properties once per importing
 *   module (__toESM); the copy is memoized, the same wrapper for every importer.
 *
 * The proxy is its own ES namespace (esbuild's wrapper would enumerate it, loading the module):
 * `(0, mod.spawn)(…)` reads the property at the call, and `default` is the module itself.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Plugin, transform } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, '.cache', 'kiln.cjs');
/** The sources the bundle was made from, for bin/kiln.cjs's staleness check. */
const INPUTS = join(ROOT, '.cache', 'kiln.inputs');
const LAZY = ['child_process', 'zlib', 'worker_threads', 'tls', 'net', 'http', 'https', 'readline/promises'];
const NS = 'kiln-lazy-builtin';

const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === NS
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: NS },
    );
    b.onLoad({ filter: /.*/, namespace: NS }, (args) => ({
      loader: 'js',
      contents: `let real;
const MARK = Symbol.for('${NS}');
const load = () => (real ??= require('node:${args.path}'));
module.exports = new Proxy({}, {
  get: (_, key) => (key === MARK ? true : key === 'default' ? load() : load()[key]),
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});`,
    }));
  },
};

const built = await build({
  metafile: true,
  entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  logLevel: 'warning',
  outfile: OUT,
  define: { 'import.meta.url': '__kiln_module_url' },
  // "use strict" first: esbuild's own comes after the banner, where it is no directive.
  banner: {
    js: "'use strict';const __kiln_module_url = require('node:url').pathToFileURL(__filename).href;",
  },
  plugins: [lazyBuiltins],
  // Packages only a rarely used path needs stay out of the bundle (every start reads all of it):
  // `yaml` (a quarter of the bundle) is required from node_modules when a YAML file is built.
  external: ['yaml'],
});

let code = readFileSync(OUT, 'utf8');
// Memoize esbuild's __toESM helper, and let a lazy proxy stand as its own ES namespace: wrapping
// would enumerate it, which loads the module. The override goes right after the helper.
const helper = code.indexOf('\nvar __toESM = ');
const after = code.indexOf('\n));\n', helper);
if (helper < 0 || after < 0) throw new Error('bundle: esbuild helpers changed; update scripts/bundle.ts');
const end = after + '\n));\n'.length;
code = `${code.slice(0, end)}var __toESMOnce = __toESM, __esmOf = new WeakMap();
__toESM = (mod, isNodeMode) => {
  if (mod == null || !isNodeMode) return __toESMOnce(mod, isNodeMode);
  if (mod[Symbol.for('${NS}')]) return mod;
  let ns = __esmOf.get(mod);
  if (!ns) __esmOf.set(mod, (ns = __toESMOnce(mod, isNodeMode)));
  return ns;
};
${code.slice(end)}`;
// Whitespace goes last (the patch above reads esbuild's layout): a third less to read at every
// start. Names stay, so stack traces (--debug) still say which function.
code = (await transform(code, { loader: 'js', minifyWhitespace: true, logLevel: 'warning' })).code;
// The launcher compiles the file as it is read: one function taking CommonJS's five names, so no
// wrapped copy of the source is made at each start; and ASCII throughout (esbuild escapes strings,
// not a regular expression's characters: write those as \u escapes), so it is read as Latin-1 into
// a one-byte string Node keeps outside V8's heap, not decoded from UTF-8 into a two-byte one.
// Together ~1,400 fewer page faults a start (bin/kiln.cjs).
const wide = code.search(/[^\x00-\x7f]/);
if (wide >= 0) {
  const line = code.slice(0, wide).split('\n').length;
  console.error(
    `bundle: a non-ASCII character at line ${line} of the bundle ("…${code.slice(Math.max(0, wide - 40), wide + 10)}…"): write it as a \\u escape in the source`,
  );
  process.exit(1);
}
code = `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
const sources = Object.keys(built.metafile.inputs).filter((f) => f.startsWith('src/'));
writeFileSync(INPUTS, `${sources.join('\n')}\n`);
writeFileSync(OUT, code);
