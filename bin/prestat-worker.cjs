'use strict';
/**
 * The context pre-stat (see src/context/prestat.ts): started by bin/kiln.cjs on a second thread
 * for `kiln build DIR`, it lists and lstats DIR's tree while the main thread is still loading
 * kiln, in the order the context walk will want it (directories depth-first, names sorted), and
 * posts one message per directory. Read-only, nothing followed (lstat; a directory is descended
 * into only when lstat said it is one), bounded by ENTRY_BUDGET; it stops when told to.
 *
 * Plain CommonJS, no dependencies: it runs before the bundle has loaded.
 */
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');

/** Enough for the contexts a warm build walks in a second; past it the main thread goes on alone. */
const ENTRY_BUDGET = 250_000;
/** Per entry: mode, uid, gid, size, mtimeMs, ino, dev, nlink, ctimeMs (NaN mode: lstat failed). */
const FIELDS = 9;

const { root, port, shared } = workerData;
const budget = workerData.budget ?? ENTRY_BUDGET;
const state = new Int32Array(shared);
/** state[0]: directories posted; state[1]: 0 walking, 1 finished, 2 told to stop. */
let entries = 0;

function post(message, transfer) {
  port.postMessage(message, transfer);
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
}

/**
 * Directories .dockerignore names literally (`node_modules`, `/dist/`, `**\/.git`), not listed:
 * the walk will not want them. Any `!` exception, and nothing is left out (a guess only saves time).
 */
function skipped() {
  const out = { paths: new Set(), names: new Set() };
  let text;
  try {
    const fd = fs.openSync(`${root}/.dockerignore`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const buf = Buffer.alloc(64 << 10);
      text = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return out;
  }
  for (let line of text.split('\n')) {
    line = line.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('!')) return { paths: new Set(), names: new Set() };
    const anywhere = line.startsWith('**/');
    const p = line
      .slice(anywhere ? 3 : 0)
      .replace(/^(\.?\/)+/, '')
      .replace(/\/+$/, '');
    if (p === '' || p === '.' || /[*?[\\]/.test(p) || p.split('/').includes('..')) continue;
    if (anywhere) {
      if (!p.includes('/')) out.names.add(p);
    } else out.paths.add(p);
  }
  return out;
}

function walk(rel, skip) {
  if (Atomics.load(state, 1) !== 0) return false;
  let names;
  try {
    names = fs.readdirSync(rel === '' ? root : `${root}/${rel}`);
  } catch {
    post({ rel, listing: null });
    return true;
  }
  // A name that is not UTF-8, or outside the BMP (sorted differently): the main thread reads it.
  if (names.some((n) => /[\uFFFD\uD800-\uDFFF]/.test(n))) {
    post({ rel, listing: null });
    return true;
  }
  // Past the budget (one huge directory counts whole): the main thread reads it, and the rest.
  if (entries + names.length > budget) {
    post({ rel, listing: null });
    return false;
  }
  names.sort();
  entries += names.length;
  const st = new Float64Array(names.length * FIELDS);
  const dirs = [];
  for (let i = 0; i < names.length; i++) {
    const childRel = rel === '' ? names[i] : `${rel}/${names[i]}`;
    const s = fs.lstatSync(`${root}/${childRel}`, { throwIfNoEntry: false });
    const o = i * FIELDS;
    if (!s) {
      st[o] = Number.NaN;
      continue;
    }
    st[o] = s.mode;
    st[o + 1] = s.uid;
    st[o + 2] = s.gid;
    st[o + 3] = s.size;
    st[o + 4] = s.mtimeMs;
    st[o + 5] = s.ino;
    st[o + 6] = s.dev;
    st[o + 7] = s.nlink;
    st[o + 8] = s.ctimeMs;
    if ((s.mode & 0o170000) === 0o040000 && !skip.paths.has(childRel) && !skip.names.has(names[i])) {
      dirs.push(childRel);
    }
  }
  post({ rel, listing: { names, st } }, [st.buffer]);
  for (const d of dirs) if (!walk(d, skip)) return false;
  return true;
}

try {
  walk('', skipped());
} finally {
  Atomics.compareExchange(state, 1, 0, 1);
  Atomics.notify(state, 0);
  port.close();
}
