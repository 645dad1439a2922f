/**
 * File names are bytes. A context whose names are not UTF-8 (Latin-1 `caf\xe9`, a directory
 * `\xff\xfe`, a symlink to `t\xfe\xff`, a name beside its U+FFFD look-alike) builds, and every
 * name reaches the container, the layer tar, the local and tar outputs, a registry and back, an
 * image archive and back, and another stage, byte for byte; RUN's own such names too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../src/testing/registry.ts';
import {
  type Built,
  buildContext,
  kiln,
  makeContext,
  openSuite,
  type Suite,
  scratch,
} from '../integration/build/helpers.ts';
import { makeSentinel, type Sentinel } from './sentinel.ts';

/** Bytes from a Latin-1 spelling: every character one byte. */
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
const join2 = (dir: string, name: Buffer): Buffer => cat(u(`${dir}/`), name);

const CAFE = b('caf\xe9');
const DIR = b('\xff\xfe');
const INNER = b('inner\x80');
const LINK = b('lnk\xfd');
const TARGET = b('t\xfe\xff');
const BAD = b('x\xff');
/** A valid name holding U+FFFD: what Node makes of `x\xff`, and a different file. */
const LOOKALIKE = u('x\ufffd');
/** A valid astral character whose UTF-16 low half lies in U+DC80–U+DCFF. */
const ASTRAL = u('astral-\u{10080}');
const IGNORED = b('secret-\xfc');
const IGNORED_RAW = b('ign\xfb');
const SECRET = 'NAMES-IGNORED-SECRET-5d1e';
/** Made by RUN. */
const RUN_FILE = b('a\xffb');
const RUN_DIR = b('d\xfe');
const RUN_INNER = b('f\x81');
const RUN_LINK = b('l\xfb');
const RUN_TARGET = b('t\xfc');

let suite: Suite;
let reg: TestRegistry;
let sentinel: Sentinel;
before(async () => {
  suite = await openSuite('sec-names');
  reg = await sharedRegistry();
  sentinel = makeSentinel(join(suite.dir, 'sentinel'));
});
after(async () => {
  sentinel.assertUntouched();
  await suite.close();
});

/** A context with every kind of name, plus the Dockerfile given. */
async function context(dockerfile: string): Promise<string> {
  const ctx = await makeContext(suite, { Dockerfile: dockerfile });
  const at = (name: Buffer) => join2(ctx, name);
  writeFileSync(at(CAFE), 'latin1\n');
  mkdirSync(at(DIR));
  writeFileSync(join2(ctx, cat(DIR, u('/'), INNER)), 'inner\n');
  symlinkSync(TARGET, at(LINK));
  writeFileSync(at(BAD), 'bad\n');
  writeFileSync(at(LOOKALIKE), 'lookalike\n');
  writeFileSync(at(ASTRAL), 'astral\n');
  writeFileSync(at(IGNORED), `${SECRET}\n`);
  writeFileSync(at(IGNORED_RAW), `${SECRET}\n`);
  // A link to the host: copied as a link, never followed.
  symlinkSync(join(sentinel.dir, 'secret'), at(b('host\xfa')));
  // .dockerignore holds a raw byte too (Go reads it as bytes).
  writeFileSync(join(ctx, '.dockerignore'), cat(u('secret-*\n'), IGNORED_RAW, u('\n')));
  return ctx;
}

const COPIED = [CAFE, DIR, LINK, BAD, LOOKALIKE, ASTRAL, b('host\xfa'), u('Dockerfile'), u('.dockerignore')];

/** The names in a directory, as bytes (hex, sorted). */
function names(dir: string | Buffer): string[] {
  return readdirSync(dir, { encoding: 'buffer' })
    .map((n) => n.toString('hex'))
    .sort();
}

const hex = (list: Buffer[]): string[] => list.map((n) => n.toString('hex')).sort();

/** Check a filesystem where the context was copied to `dir`. */
function assertCopied(root: string, dir: string): void {
  const x = join(root, dir);
  assert.deepEqual(names(x), hex(COPIED));
  assert.equal(readFileSync(join2(x, CAFE), 'utf8'), 'latin1\n');
  assert.equal(readFileSync(join2(x, BAD), 'utf8'), 'bad\n');
  assert.equal(readFileSync(join2(x, LOOKALIKE), 'utf8'), 'lookalike\n');
  assert.equal(readFileSync(join2(x, ASTRAL), 'utf8'), 'astral\n');
  assert.deepEqual(names(join2(x, DIR)), hex([INNER]));
  assert.equal(readFileSync(join2(x, cat(DIR, u('/'), INNER)), 'utf8'), 'inner\n');
  assert.deepEqual(readlinkSync(join2(x, LINK), { encoding: 'buffer' }), TARGET);
}

/** Names of a tar's members as GNU tar and Python's tarfile list them (hex of the bytes). */
function tarNames(file: string): { gnu: string[]; python: string[] } {
  // --quoting-style=escape prints a byte that is not printable as \ooo.
  const listing = execFileSync('tar', ['--quoting-style=escape', '-tf', file], { encoding: 'latin1' });
  const gnu = listing
    .split('\n')
    .filter((l) => l !== '')
    .map(
      (l) =>
        b(l.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
          .toString('hex')
          .replace(/2f$/, ''), // a directory's trailing '/'
    );
  const py = execFileSync(
    'python3',
    [
      '-c',
      `import sys, tarfile
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as t:
    for m in t.getmembers():
        print(m.name.encode('utf-8', 'surrogateescape').hex())`,
      file,
    ],
    { encoding: 'utf8' },
  );
  return { gnu: gnu.sort(), python: py.split('\n').filter(Boolean).sort() };
}

/** The tar members a listing must hold for the copied context under `prefix/`. */
function copiedMembers(prefix: string): string[] {
  const p = (name: Buffer) => cat(u(`${prefix}/`), name);
  return hex([u(prefix), ...COPIED.map(p), p(cat(DIR, u('/'), INNER))]);
}

/** The RUN-made names at the root of a filesystem. */
function assertRunNames(root: string): void {
  assert.equal(lstatSync(join2(root, RUN_FILE)).isFile(), true);
  assert.equal(readFileSync(join2(root, cat(RUN_DIR, u('/'), RUN_INNER)), 'utf8'), 'made\n');
  assert.deepEqual(readlinkSync(join2(root, RUN_LINK), { encoding: 'buffer' }), RUN_TARGET);
}

/** A shell listing of a directory (busybox ls shows such bytes as '?'; a glob hands them over as they are). */
const list = (out: string, dir = '/x') =>
  `(cd ${dir} && for f in .* *; do printf '%s\\n' "$f"; done) > ${out}`;

const DOCKERFILE = `FROM busybox
COPY . /x
RUN ${list('/ls.txt')} && readlink "/x/lnk$(printf '\\375')" > /link.txt && cat "/x/$(printf '\\377\\376')/inner$(printf '\\200')" > /inner.txt
RUN touch "/$(printf 'a\\377b')" && mkdir "/$(printf 'd\\376')" && echo made > "/$(printf 'd\\376')/$(printf 'f\\201')" && ln -s "$(printf 't\\374')" "/$(printf 'l\\373')"
`;

const LS = cat(...[u('.'), u('..'), ...COPIED].sort(Buffer.compare).map((n) => cat(n, u('\n'))));

let first: Built;

describe('a context whose names are not UTF-8', () => {
  it('COPY . keeps every name byte for byte, in the container and in the local export; ignored names stay out', async () => {
    const ctx = await context(DOCKERFILE);
    const tar = join(await scratch(suite, 'tar'), 'fs.tar');
    first = await buildContext(suite, ctx, {
      output: [`type=tar,dest=${tar}`],
      tags: [`${reg.host}/kiln-names/img:v1`],
    });
    assertCopied(first.fs, 'x');
    assert.deepEqual(readFileSync(join(first.fs, 'ls.txt')), LS, 'the container sees the same names');
    assert.deepEqual(readFileSync(join(first.fs, 'link.txt')), cat(TARGET, u('\n')));
    assert.equal(readFileSync(join(first.fs, 'inner.txt'), 'utf8'), 'inner\n');
    assertRunNames(first.fs);
    // type=tar: the same names in the archive, as GNU tar and Python read them.
    const listed = tarNames(tar);
    for (const m of [...copiedMembers('x'), ...hex([RUN_FILE, RUN_DIR, cat(RUN_DIR, u('/'), RUN_INNER)])]) {
      assert.ok(listed.gnu.includes(m), `GNU tar lists ${m}`);
      assert.ok(listed.python.includes(m), `Python lists ${m}`);
    }
    for (const secret of [IGNORED, IGNORED_RAW])
      assert.ok(!listed.gnu.some((m) => m.includes(secret.toString('hex'))));
  });

  it('the layer tars hold the exact names (COPY and RUN), as GNU tar and Python read them', async () => {
    const dir = await scratch(suite, 'layers');
    const layers = first.image.manifest.layers;
    const copyLayer = join(dir, 'copy.tar');
    const runLayer = join(dir, 'run.tar');
    writeFileSync(copyLayer, await suite.store.content.readBlob(layers[layers.length - 3].digest));
    writeFileSync(runLayer, await suite.store.content.readBlob(layers[layers.length - 1].digest));
    const copied = tarNames(copyLayer);
    assert.deepEqual(copied.gnu, copiedMembers('x'));
    assert.deepEqual(copied.python, copiedMembers('x'));
    const ran = tarNames(runLayer);
    for (const m of hex([RUN_FILE, RUN_DIR, cat(RUN_DIR, u('/'), RUN_INNER), RUN_LINK])) {
      assert.ok(ran.gnu.includes(m), `GNU tar lists ${m} in the RUN layer`);
      assert.ok(ran.python.includes(m), `Python lists ${m} in the RUN layer`);
    }
    // The link target too, in Python's reading of the PAX linkpath.
    const target = execFileSync(
      'python3',
      [
        '-c',
        `import sys, tarfile
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as t:
    print(t.getmember(bytes.fromhex(sys.argv[2]).decode('utf-8', 'surrogateescape')).linkname.encode('utf-8', 'surrogateescape').hex())`,
        runLayer,
        RUN_LINK.toString('hex'),
      ],
      { encoding: 'utf8' },
    ).trim();
    assert.equal(target, RUN_TARGET.toString('hex'));
  });

  it('a renamed non-UTF-8 file changes the COPY cache key (no U+FFFD collision)', async () => {
    const ctx = await context('FROM busybox\nCOPY . /x\n');
    const one = await buildContext(suite, ctx);
    assert.equal(readFileSync(join2(join(one.fs, 'x'), BAD), 'utf8'), 'bad\n');
    // x\xff becomes x\xfe: both would be "x\ufffd" as strings.
    const other = b('x\xfe');
    renameSync(join2(ctx, BAD), join2(ctx, other));
    const two = await buildContext(suite, ctx);
    assert.ok(!two.cached.some((n) => n.includes('COPY')), 'the COPY ran again');
    assert.equal(readFileSync(join2(join(two.fs, 'x'), other), 'utf8'), 'bad\n');
    assert.equal(lstatSync(join2(join(two.fs, 'x'), BAD), { throwIfNoEntry: false }), undefined);
  });

  it('COPY wildcards match such names, a ? matching one byte that is not UTF-8 (Go filepath.Match)', async () => {
    const ctx = await context('FROM busybox\nCOPY caf* /w/\nCOPY ?? /d/\n');
    const built = await buildContext(suite, ctx);
    assert.deepEqual(names(join(built.fs, 'w')), hex([CAFE]));
    // ?? is \xff\xfe (its contents are copied), x\xff, and x<U+FFFD> (one rune).
    assert.deepEqual(names(join(built.fs, 'd')), hex([INNER, BAD, LOOKALIKE]));
  });

  it('ADD of a local archive holding such names (GNU tar, PAX and GNU formats) extracts them byte for byte', async () => {
    const ctx = await context('FROM busybox\nADD pax.tar /p/\nADD gnu.tar /g/\n');
    const tree = join(await scratch(suite, 'tree'), 't');
    mkdirSync(join2(tree, DIR), { recursive: true });
    writeFileSync(join2(tree, cat(DIR, u('/'), INNER)), 'inner\n');
    writeFileSync(join2(tree, CAFE), 'latin1\n');
    symlinkSync(TARGET, join2(tree, LINK));
    for (const format of ['pax', 'gnu'])
      execFileSync('tar', [`--format=${format}`, '-cf', join(ctx, `${format}.tar`), '-C', tree, '.']);
    const built = await buildContext(suite, ctx);
    for (const dir of ['p', 'g']) {
      const d = join(built.fs, dir);
      assert.deepEqual(names(d), hex([CAFE, DIR, LINK]), dir);
      assert.equal(readFileSync(join2(d, cat(DIR, u('/'), INNER)), 'utf8'), 'inner\n');
      assert.deepEqual(readlinkSync(join2(d, LINK), { encoding: 'buffer' }), TARGET);
    }
  });

  it('a bind mount of the context (filtered by .dockerignore) shows the same names', async () => {
    const ctx = await context(
      `FROM busybox\nRUN --mount=type=bind,target=/ctx ${list('/bound.txt', '/ctx')}\n`,
    );
    const built = await buildContext(suite, ctx);
    assert.deepEqual(readFileSync(join(built.fs, 'bound.txt')), LS);
  });

  it('COPY --from another stage keeps the names, those RUN made included', async () => {
    const ctx = await context(
      `FROM busybox AS src\nCOPY . /x\nRUN touch "/x/$(printf 'r\\377')"\nFROM busybox\nCOPY --from=src /x /y\n`,
    );
    const built = await buildContext(suite, ctx);
    const y = join(built.fs, 'y');
    assert.deepEqual(names(y), hex([...COPIED, b('r\xff')]));
    assert.deepEqual(readlinkSync(join2(y, LINK), { encoding: 'buffer' }), TARGET);
    assert.equal(readFileSync(join2(y, cat(DIR, u('/'), INNER)), 'utf8'), 'inner\n');
  });

  it('pushed, pulled into a fresh root and built upon, the names are unchanged', async () => {
    const name = `${reg.host}/kiln-names/img:v1`;
    const pushed = kiln(suite, ['push', name]);
    assert.equal(pushed.code, 0, pushed.err);
    const fresh = await openSuite('sec-names-pull');
    try {
      const ctx = await makeContext(fresh, {
        Dockerfile: `FROM ${name}\nRUN ${list('/ls2.txt')}\n`,
      });
      const tar = join(await scratch(fresh, 'tar'), 'fs.tar');
      const built = await buildContext(fresh, ctx, { pull: true, output: [`type=tar,dest=${tar}`] });
      assertCopied(built.fs, 'x');
      assertRunNames(built.fs);
      assert.deepEqual(readFileSync(join(built.fs, 'ls2.txt')), LS);
      const listed = tarNames(tar);
      for (const m of copiedMembers('x')) assert.ok(listed.gnu.includes(m), `GNU tar lists ${m}`);
    } finally {
      await fresh.close();
    }
  });

  it('saved to an image archive and loaded into a fresh root, the names are unchanged', async () => {
    const name = `${reg.host}/kiln-names/img:v1`;
    const archive = join(await scratch(suite, 'save'), 'img.tar');
    const saved = kiln(suite, ['image', 'save', '-o', archive, name]);
    assert.equal(saved.code, 0, saved.err);
    const fresh = await openSuite('sec-names-load');
    try {
      const loaded = kiln(fresh, ['image', 'load', '-i', archive]);
      assert.equal(loaded.code, 0, loaded.err);
      const ctx = await makeContext(fresh, { Dockerfile: `FROM ${name}\nRUN ${list('/ls3.txt')}\n` });
      const built = await buildContext(fresh, ctx);
      assertCopied(built.fs, 'x');
      assertRunNames(built.fs);
      assert.deepEqual(readFileSync(join(built.fs, 'ls3.txt')), LS);
    } finally {
      await fresh.close();
    }
  });
});
