'use strict';
/**
 * Starting the context pre-stat (bin/prestat-walker.cjs, taken by src/context/prestat.ts) from
 * the launcher, before kiln loads. Plain CommonJS, no dependencies.
 */
const fs = require('node:fs');
const path = require('node:path');

/**
 * `kiln build … DIR`: DIR's tree is listed and lstat'ed by a process of its own while this one
 * loads kiln (bin/prestat-walker.cjs; taken by src/context/prestat.ts, which checks it is the
 * build's context). A warm build of a 20,000-file context spent a third of its time in that walk,
 * after start-up. Only a guess from the words: a wrong one costs the other core some work, nothing
 * else.
 *
 * The walker writes to a file only this process can reach: created with O_EXCL (no planted name
 * or link is opened), mode 0600, opened again for reading through this process's descriptor, and
 * unlinked before the walker starts. It is killed when kiln no longer needs it, and when kiln exits.
 */
function startPrestat(argv, budget) {
  const last = argv[argv.length - 1];
  if (!argv.includes('build') || argv.length < 2 || last === undefined || last.startsWith('-')) return;
  if (argv.includes('--help') || argv.includes('-h') || /^[a-z][a-z0-9+.-]*:\/\//i.test(last)) return;
  const root = path.resolve(last);
  // Only for a context whose last walk was big (a hint its build left): the walker costs a small
  // build more (~5 ms of this thread to start it, its start-up on the other core) than its walk takes.
  if (!fs.existsSync(hintFile(root))) return;
  let out;
  let fd;
  try {
    const file = path.join(require('node:os').tmpdir(), `kiln-prestat-${process.pid}-${Date.now()}`);
    out = fs.openSync(file, 'wx', 0o600);
    fd = fs.openSync(`/proc/self/fd/${out}`, 'r');
    fs.unlinkSync(file);
  } catch {
    if (out !== undefined) fs.closeSync(out);
    return; // no temporary directory to write to: no pre-stat
  }
  const args = [path.join(__dirname, 'prestat-walker.cjs'), root];
  if (budget !== undefined) args.push(String(budget));
  const child = require('node:child_process').spawn(process.execPath, args, {
    stdio: ['ignore', out, 'ignore'],
  });
  fs.closeSync(out);
  child.on('error', () => {});
  child.unref();
  const stop = () => child.kill('SIGKILL');
  process.once('exit', stop);
  globalThis[Symbol.for('kiln.prestat')] = { root, fd, stop, started: Date.now() };
}

/**
 * Where a build notes that the context at `root` is big (src/context/prestat.ts writes it, the
 * same name): in the user's cache, beside the code cache, named by a hash of the path.
 */
function hintFile(root) {
  const base = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '/tmp', '.cache');
  return path.join(base, 'kiln', 'prestat', `${fnv1a(root)}-${root.length}`);
}

/** FNV-1a, 32 bits, of a string's UTF-16 code units: a name, not a proof. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

module.exports = { startPrestat, hintFile };
