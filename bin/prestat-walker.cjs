'use strict';
/**
 * The context pre-stat (see src/context/prestat.ts): started for `kiln build DIR` as a process of
 * its own, by bin/kiln before Node starts for kiln (`node prestat-walker.cjs DIR '' OUTPUT`: it
 * removes OUTPUT's name, which only bin/kiln and kiln hold open, and walks only when DIR's hint is
 * there) or else by bin/prestat.cjs (`node prestat-walker.cjs DIR BUDGET`), it lists and lstats DIR's
 * tree while kiln is still loading, in the order the context walk will want it (directories
 * depth-first, names sorted), and writes one record per directory to its standard output, a file
 * kiln reads as the records come (the layout: writeRecord). Read-only, nothing followed (lstat;
 * a directory is descended into only when lstat said it is one), bounded by its budget; kiln
 * kills it when it no longer needs it.
 *
 * A process, not a worker thread: beside kiln's own start-up a worker thread took ~75 ms to run
 * its first line, a process ~45 ms (a 20,000-file context's warm build waited on the difference).
 * Plain CommonJS, no dependencies: it runs before the bundle has loaded.
 */
const fs = require('node:fs');

/** Enough for the contexts a warm build walks in a second; past it the main thread goes on alone. */
const ENTRY_BUDGET = 250_000;
/** Per entry: mode, uid, gid, size, mtimeMs, ino, dev, nlink, ctimeMs (NaN mode: lstat failed). */
const FIELDS = 9;

const budget = Number(process.argv[3]) || ENTRY_BUDGET;
/** Started by bin/kiln: the name of the file standing open as this process's output. */
const output = process.argv[4];
if (output) {
  try {
    fs.unlinkSync(output);
  } catch {
    // gone already: nothing else is ever at that name
  }
}
const root = output ? require('node:path').resolve(process.argv[2]) : process.argv[2];
let entries = 0;

/** Record types (src/context/prestat.ts reads them). */
const LISTING = 1;
const LEFT_OUT = 2;
const END = 3;
const HEADER = 16;

/**
 * One record: type (u8, then 3 bytes of padding), the directory's byte length, the names' byte
 * length and the name count (u32 each, little-endian); the directory, the names joined by NUL;
 * padding to a multiple of 8 bytes from the record's start; then FIELDS float64 per name.
 */
function writeRecord(type, rel, names, st) {
  const relBuf = Buffer.from(rel, 'utf8');
  const namesBuf = Buffer.from(names ? names.join('\0') : '', 'utf8');
  const statsAt = (HEADER + relBuf.length + namesBuf.length + 7) & ~7;
  const buf = Buffer.alloc(statsAt + (st ? st.byteLength : 0));
  buf.writeUInt8(type, 0);
  buf.writeUInt32LE(relBuf.length, 4);
  buf.writeUInt32LE(namesBuf.length, 8);
  buf.writeUInt32LE(names ? names.length : 0, 12);
  relBuf.copy(buf, HEADER);
  namesBuf.copy(buf, HEADER + relBuf.length);
  if (st) Buffer.from(st.buffer, st.byteOffset, st.byteLength).copy(buf, statsAt);
  for (let off = 0; off < buf.length; ) off += fs.writeSync(1, buf, off);
}

function post(rel, listing) {
  if (listing) writeRecord(LISTING, rel, listing.names, listing.st);
  else writeRecord(LEFT_OUT, rel);
}

/**
 * Directories .dockerignore names literally (`node_modules`, `/dist/`, `**\/.git`), not listed
 * (each is written as left out): the walk will not want them. Any `!` exception, and nothing is
 * left out (a guess only saves time).
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

/**
 * List directory `rel` from inside it: the lstats below go by name from there (the kernel looks up
 * one component, not the whole path: the walk's lstats ~15% faster). `seen` is what its parent's
 * lstat saw of it; chdir follows a link, so the directory reached must be that one.
 */
function walk(rel, skip, seen) {
  let names;
  try {
    process.chdir(rel === '' ? root : `${root}/${rel}`);
    if (seen) {
      const here = fs.lstatSync('.');
      if (here.ino !== seen.ino || here.dev !== seen.dev) throw new Error('replaced since its lstat');
    }
    names = fs.readdirSync('.');
  } catch {
    post(rel, null);
    return true;
  }
  // A name that is not UTF-8, or outside the BMP (sorted differently): the main thread reads it.
  if (names.some((n) => /[\uFFFD\uD800-\uDFFF]/.test(n))) {
    post(rel, null);
    return true;
  }
  // Past the budget (one huge directory counts whole): the main thread reads it, and the rest.
  if (entries + names.length > budget) {
    post(rel, null);
    return false;
  }
  names.sort();
  entries += names.length;
  const st = new Float64Array(names.length * FIELDS);
  const dirs = [];
  for (let i = 0; i < names.length; i++) {
    const childRel = rel === '' ? names[i] : `${rel}/${names[i]}`;
    const s = fs.lstatSync(names[i], { throwIfNoEntry: false });
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
    if ((s.mode & 0o170000) === 0o040000) {
      const left = skip.paths.has(childRel) || skip.names.has(names[i]);
      dirs.push({ rel: childRel, ino: s.ino, dev: s.dev, left });
    }
  }
  post(rel, { names, st });
  for (const d of dirs) {
    // Said, not just passed over: what it holds is then no part of what kiln takes the tree to be.
    if (d.left) post(d.rel, null);
    else if (!walk(d.rel, skip, d)) return false;
  }
  return true;
}

try {
  // bin/kiln starts this for any `kiln build DIR` while the user's cache holds hints at all: walk
  // only a context whose last build left its own (the launcher's test, bin/prestat.cjs).
  if (!output || fs.existsSync(require('./prestat.cjs').hintFile(root))) walk('', skipped());
} finally {
  writeRecord(END, '');
}
