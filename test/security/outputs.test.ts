/**
 * Outputs never clobber what is at their destination (security issue 10, item 8) and pipes get
 * every byte (issue 11): a character device or FIFO is streamed into and stays what it was, a
 * directory, socket or block device is refused by name, a regular file is replaced atomically,
 * type=local never writes through a link an earlier export's image planted, and a slow or
 * vanishing reader of stdout gets the whole archive or a one-line error.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, kiln, makeContext, openSuite, type Suite, scratch } from '../integration/build/helpers.ts';
import { assertNoStack, sha256File, treeState } from './harness.ts';

let suite: Suite;
let ctx: string;
/** The archive of ctx's image written to a plain file: what every other destination must get. */
let reference: string;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const makedev = (major: number, minor: number) => (major << 8) | minor;

function assertCharDevice(path: string, major: number, minor: number): void {
  const st = lstatSync(path);
  assert.ok(st.isCharacterDevice(), `${path} is still a character device`);
  assert.equal(st.rdev, makedev(major, minor));
}

before(async () => {
  suite = await openSuite('sec-outputs');
  ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo built > /built\n' });
  reference = join(await scratch(suite, 'ref'), 'image.tar');
  const r = kiln(suite, ['build', '-q', '-o', `type=docker,dest=${reference}`, ctx]);
  assert.equal(r.code, 0, r.err);
});
after(() => suite.close());

describe('an archive output and what is at its dest', () => {
  it('a character device is streamed into and stays a device node', async () => {
    const dir = await scratch(suite, 'chr');
    sh('mknod', [join(dir, 'fake-null'), 'c', '1', '3']);
    const r = kiln(suite, ['build', '-q', '-o', `type=docker,dest=${join(dir, 'fake-null')}`, ctx]);
    assert.equal(r.code, 0, r.err);
    assertCharDevice(join(dir, 'fake-null'), 1, 3);
    assert.deepEqual(await readdir(dir), ['fake-null'], 'no temp file beside it');
  });

  it('a device that refuses the bytes (like /dev/full) fails clearly and stays a device node', async () => {
    const dir = await scratch(suite, 'full');
    const full = join(dir, 'fake-full');
    sh('mknod', [full, 'c', '1', '7']);
    for (const args of [
      ['build', '-q', '-o', `type=docker,dest=${full}`, ctx],
      ['image', 'save', '-o', full, 'busybox'],
    ]) {
      const r = kiln(suite, args);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /error: writing the archive to .*fake-full failed: ENOSPC/);
      assertNoStack(r.err);
      assertCharDevice(full, 1, 7);
      assert.deepEqual(await readdir(dir), ['fake-full']);
    }
  });

  it('a FIFO gets the complete archive, the same bytes as a file', async () => {
    const dir = await scratch(suite, 'fifo');
    const fifo = join(dir, 'pipe');
    sh('mkfifo', [fifo]);
    const saved = join(dir, 'saved.tar');
    assert.equal(kiln(suite, ['image', 'save', '-o', saved, 'busybox']).code, 0);
    for (const [args, expected] of [
      [['build', '-q', '-o', `type=docker,dest=${fifo}`, ctx], reference],
      [['image', 'save', '-o', fifo, 'busybox'], saved],
    ] as const) {
      const got = join(dir, 'got.tar');
      // A reader that opens late and reads slowly: kiln must wait for it, not replace the FIFO.
      const reader = spawn('sh', ['-c', 'sleep 1; cat "$1" > "$2"', 'sh', fifo, got], { stdio: 'inherit' });
      const readerDone = new Promise((r) => reader.on('close', r));
      const r = kiln(suite, [...args]);
      assert.equal(r.code, 0, r.err);
      await readerDone;
      assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
      assert.equal(sha256File(got), sha256File(expected));
      await rm(got);
    }
  });

  it('a directory, a socket and a block device are refused, naming the path and what it is', async () => {
    const dir = await scratch(suite, 'refused');
    await mkdir(join(dir, 'a-dir'));
    await writeFile(join(dir, 'a-dir', 'keep'), 'kept');
    sh('mknod', [join(dir, 'a-block'), 'b', '7', '250']);
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(join(dir, 'a-socket'), r));
    try {
      const before = treeState(dir);
      for (const [name, kind] of [
        ['a-dir', 'a directory'],
        ['a-socket', 'a socket'],
        ['a-block', 'a block device'],
      ]) {
        const dest = join(dir, name);
        for (const args of [
          ['build', '-q', '-o', `type=docker,dest=${dest}`, ctx],
          ['build', '-q', '-o', `type=tar,dest=${dest}`, ctx],
          ['image', 'save', '-o', dest, 'busybox'],
        ]) {
          const r = kiln(suite, args);
          assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
          assert.match(r.err, new RegExp(`error: cannot write the archive to ${dest}: it is ${kind}\\n`));
          assert.match(r.err, /hint: /);
          assertNoStack(r.err);
        }
      }
      assert.deepEqual(treeState(dir), before, 'nothing at any refused dest changed');
    } finally {
      server.close();
    }
  });

  it('an existing file is replaced whole, and a file behind a symlink the user made is replaced in place', async () => {
    const dir = await scratch(suite, 'file');
    const dest = join(dir, 'image.tar');
    await writeFile(dest, 'old contents');
    symlinkSync(dest, join(dir, 'link.tar'));
    let r = kiln(suite, ['build', '-q', '-o', `type=docker,dest=${dest}`, ctx]);
    assert.equal(r.code, 0, r.err);
    assert.equal(sha256File(dest), sha256File(reference));
    await writeFile(dest, 'old contents');
    r = kiln(suite, ['image', 'save', '-o', join(dir, 'link.tar'), 'busybox']);
    assert.equal(r.code, 0, r.err);
    assert.ok(lstatSync(join(dir, 'link.tar')).isSymbolicLink(), 'the link stays a link');
    assert.notEqual(readFileSync(dest, 'utf8'), 'old contents');
    assert.deepEqual((await readdir(dir)).sort(), ['image.tar', 'link.tar'], 'no temp file left');
  });

  it('--iidfile and --metadata-file are written atomically, into a device, and refused on a directory', async () => {
    const dir = await scratch(suite, 'iid');
    sh('mknod', [join(dir, 'fake-null'), 'c', '1', '3']);
    let r = kiln(suite, [
      'build',
      '-q',
      '--iidfile',
      join(dir, 'iid'),
      '--metadata-file',
      join(dir, 'fake-null'),
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(dir, 'iid'), 'utf8'), r.out.trim());
    assertCharDevice(join(dir, 'fake-null'), 1, 3);
    await mkdir(join(dir, 'a-dir'));
    r = kiln(suite, ['build', '-q', '--metadata-file', join(dir, 'a-dir'), ctx]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot write the build metadata \(--metadata-file\) to .*a-dir: it is a directory/);
    assert.deepEqual((await readdir(dir)).sort(), ['a-dir', 'fake-null', 'iid']);
    assert.deepEqual(await readdir(join(dir, 'a-dir')), []);
  });
});

describe('type=local and what an image planted in dest', () => {
  it('a second export never writes through a symlink the first export left', async () => {
    const sentinel = await scratch(suite, 'sentinel');
    await writeFile(join(sentinel, 'file'), 'host data\n');
    await mkdir(join(sentinel, 'dir'));
    const before = treeState(sentinel);
    const dest = join(await scratch(suite, 'local'), 'out');
    // The first image leaves links to host paths; the second has a file and a directory there.
    const plant = await makeContext(suite, {
      Dockerfile: `FROM busybox\nRUN ln -s ${sentinel}/file /planted-file && ln -s ${sentinel}/dir /planted-dir\n`,
    });
    const follow = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nRUN echo pwned > /planted-file && mkdir /planted-dir && echo pwned > /planted-dir/new\n',
    });
    let r = kiln(suite, ['build', '-q', '-o', `type=local,dest=${dest}`, plant]);
    assert.equal(r.code, 0, r.err);
    assert.ok(lstatSync(join(dest, 'planted-file')).isSymbolicLink());
    r = kiln(suite, ['build', '-q', '-o', `type=local,dest=${dest}`, follow]);
    assert.deepEqual(treeState(sentinel), before, 'the host files the links pointed at are untouched');
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(dest, 'planted-file'), 'utf8'), 'pwned\n');
    assert.ok(lstatSync(join(dest, 'planted-dir')).isDirectory());
    assert.equal(readFileSync(join(dest, 'planted-dir', 'new'), 'utf8'), 'pwned\n');
    assert.deepEqual(
      (await readdir(dest)).filter((n) => n.startsWith('.kiln')),
      [],
      'no staging directory is left in dest',
    );
  });

  it('a dest that exists and is not a directory is refused', async () => {
    const dir = await scratch(suite, 'local-file');
    await writeFile(join(dir, 'file'), 'keep');
    const r = kiln(suite, ['build', '-q', '-o', `type=local,dest=${join(dir, 'file')}`, ctx]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot write the filesystem \(type=local\) to .*file: it is a regular file/);
    assert.equal(readFileSync(join(dir, 'file'), 'utf8'), 'keep');
  });
});

describe('stdout', () => {
  const bash = (script: string) =>
    spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, KILN_ROOT: suite.root } });

  it('a slow reader gets every byte of the archive (build and image save)', async () => {
    const dir = await scratch(suite, 'slow');
    const saved = join(dir, 'saved.tar');
    assert.equal(kiln(suite, ['image', 'save', '-o', saved, 'busybox']).code, 0);
    for (const [cmd, expected] of [
      [`${KILN} build -q -o type=docker,dest=- ${ctx}`, reference],
      [`${KILN} image save busybox`, saved],
    ]) {
      const got = join(dir, 'got.tar');
      const r = bash(`${cmd} | (sleep 2; cat > ${got}); echo "status \${PIPESTATUS[0]}" >&2`);
      assert.match(r.stderr, /status 0\n/, r.stderr);
      assert.equal(sha256File(got), sha256File(expected));
    }
  });

  it('a reader that exits early ends kiln with 141 and one clear line, no stack trace', () => {
    for (const cmd of [`${KILN} build -q -o type=docker,dest=- ${ctx}`, `${KILN} image save busybox`]) {
      const r = bash(`${cmd} | head -c 100 > /dev/null; echo "status \${PIPESTATUS[0]}" >&2`);
      assert.match(r.stderr, /status 141\n/, r.stderr);
      assert.match(r.stderr, /error: the reader of stdout exited before the archive was written in full/);
      assertNoStack(r.stderr);
    }
  });
});
