'use strict';
/**
 * Starting the context pre-stat (bin/prestat-worker.cjs, taken by src/context/prestat.ts) from
 * the launcher, before kiln loads. Plain CommonJS, no dependencies.
 */
const fs = require('node:fs');
const path = require('node:path');

/**
 * `kiln build … DIR`: DIR's tree is listed and lstat'ed on a second thread while this one loads
 * kiln (bin/prestat-worker.cjs; taken by src/context/prestat.ts, which checks it is the build's
 * context). A warm build of a 20,000-file context spent a third of its time in that walk, after
 * start-up. Only a guess from the words: a wrong one costs the other core some work, nothing else.
 */
function startPrestat(argv, budget) {
  const last = argv[argv.length - 1];
  if (!argv.includes('build') || argv.length < 2 || last === undefined || last.startsWith('-')) return;
  if (argv.includes('--help') || argv.includes('-h') || /^[a-z][a-z0-9+.-]*:\/\//i.test(last)) return;
  const root = path.resolve(last);
  // Only for a context whose last walk was big (a hint its build left): the second thread costs
  // a small build more (~25 ms of a 0.2 s warm build) than its walk takes.
  if (!fs.existsSync(hintFile(root))) return;
  const { Worker, MessageChannel } = require('node:worker_threads');
  const shared = new SharedArrayBuffer(8);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(path.join(__dirname, 'prestat-worker.cjs'), {
    workerData: { root, port: port2, shared, budget },
    transferList: [port2],
    stdout: true,
    stderr: true,
  });
  worker.unref();
  port1.unref();
  worker.on('error', () => {});
  globalThis[Symbol.for('kiln.prestat')] = { root, port: port1, shared, worker, started: Date.now() };
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
