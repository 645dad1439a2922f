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
  // bin/kiln's walker (its pid; its output open as OUTPUT_FD), or none: never passed on further.
  const started = process.env.KILN_PRESTAT_PID;
  delete process.env.KILN_PRESTAT_PID;
  if (started) {
    adopt(Number(started), path.resolve(argv[argv.length - 1]));
    return;
  }
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
  offer(root, fd, () => child.kill('SIGKILL'));
}

/** Leave the walker's output for src/context/prestat.ts; `stop` kills the walker, at kiln's exit too. */
function offer(root, fd, stop) {
  process.once('exit', stop);
  globalThis[Symbol.for('kiln.prestat')] = { root, fd, stop, started: Date.now() };
}

/** The descriptor bin/kiln leaves its walker's output open on (sh: 0–9; checked unused there). */
const OUTPUT_FD = 9;

/**
 * Take the walker bin/kiln started (`pid`, for the context at `root`, which it resolved alike).
 * Its output is opened again through /proc (Node's own open: close-on-exec, never inherited by a
 * process kiln starts) and the shell's descriptor closed.
 */
function adopt(pid, root) {
  let fd;
  try {
    fd = fs.openSync(`/proc/self/fd/${OUTPUT_FD}`, 'r');
  } catch {
    // no output (the shell failed to open it): the walker is killed, kiln walks alone
  }
  try {
    fs.closeSync(OUTPUT_FD);
  } catch {
    // not open
  }
  // This process's child (the shell exec'd into it), never reaped: its pid stays its own.
  const ours = Number.isInteger(pid) && pid > 1;
  const stop = () => {
    try {
      if (ours) process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  if (fd === undefined || !ours) {
    if (fd !== undefined) fs.closeSync(fd);
    stop();
    return;
  }
  offer(root, fd, stop);
}

/**
 * Where a build notes that the context at `root` is big (src/context/prestat.ts writes it, the
 * same name): in the user's cache, beside the code cache, named by the path's last component
 * (what bin/kiln looks for before Node starts: BASE@*) and a hash of the whole path.
 */
function hintFile(root) {
  const base = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '/tmp', '.cache');
  const last = path.basename(root);
  return path.join(
    base,
    'kiln',
    'prestat',
    `${last.length <= HINT_BASE_MAX ? last : ''}@${fnv1a(root)}-${root.length}`,
  );
}

/** A last component longer than this is left out of a hint's name (bin/kiln: the same bound, in bytes). */
const HINT_BASE_MAX = 100;

/** FNV-1a, 32 bits, of a string's UTF-16 code units: a name, not a proof. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

module.exports = { startPrestat, hintFile };
