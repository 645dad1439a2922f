import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HelperHasher } from './offhash.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-offhash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, size: number, fill: number): { path: string; digest: string } {
  const data = Buffer.alloc(size, fill);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

/** A stand-in for openssl: a script that prints what it is told to (argv[1] is its output). */
function fakeTool(name: string, output: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nprintf '%s' '${output}'\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('HelperHasher', () => {
  it('hashes files by descriptor in openssl, in order, the files opened whatever their names became', async () => {
    const files = [file('a', 3 << 20, 1), file('b', 0, 0), file('c', (1 << 20) + 7, 3)];
    const fds = files.map((f) => openSync(f.path, 'r'));
    // The names now lead elsewhere: the digests are still those of the files opened.
    renameSync(files[0].path, join(dir, 'a.moved'));
    writeFileSync(files[0].path, 'planted');
    const h = new HelperHasher();
    const got = await Promise.all(fds.map((fd) => h.hash(fd)));
    assert.deepEqual(
      got,
      files.map((f) => f.digest),
    );
    assert.equal(h.offThread, true, 'openssl answered for every file');
  });

  it('hashes here when the tool is missing, and from then on', async () => {
    const f = file('d', 2 << 20, 4);
    const h = new HelperHasher(join(dir, 'no-such-openssl'));
    assert.equal(await h.hash(openSync(f.path, 'r')), f.digest);
    assert.equal(h.offThread, false);
    assert.equal(await h.hash(openSync(f.path, 'r')), f.digest);
  });

  it('does not take output that is not one digest a file, in order: it hashes here instead', async () => {
    const f = file('e', 2 << 20, 5);
    const g = file('g', 2 << 20, 6);
    // A digest for the wrong path, and one line short.
    const wrong = fakeTool('liar', `${'0'.repeat(64)} */proc/1/fd/3\n`);
    const h = new HelperHasher(wrong);
    const got = await Promise.all([h.hash(openSync(f.path, 'r')), h.hash(openSync(g.path, 'r'))]);
    assert.deepEqual(got, [f.digest, g.digest]);
    assert.equal(h.offThread, false);
  });
});
