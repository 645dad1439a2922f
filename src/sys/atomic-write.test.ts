import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic } from './atomic-write.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-atomic-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('creates a file, and replaces one whole', async () => {
    const p = join(dir, 'a');
    await writeFileAtomic(p, 'first');
    assert.equal(await readFile(p, 'utf8'), 'first');
    await writeFileAtomic(
      p,
      (async function* () {
        yield 'sec';
        yield Buffer.from('ond');
      })(),
    );
    assert.equal(await readFile(p, 'utf8'), 'second');
    assert.deepEqual(await readdir(dir), ['a']);
  });

  it('a source that fails half-way leaves the old file as it was and no temp', async () => {
    const p = join(dir, 'b');
    await writeFile(p, 'old');
    const failing = (async function* () {
      yield Buffer.alloc(1 << 20, 1);
      throw new Error('source broke');
    })();
    await assert.rejects(writeFileAtomic(p, failing), /source broke/);
    assert.equal(await readFile(p, 'utf8'), 'old');
    assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
  });

  it('an abort stops the copy and removes the temp', async () => {
    const p = join(dir, 'c');
    const ac = new AbortController();
    const endless = (async function* () {
      for (;;) {
        yield Buffer.alloc(1 << 16);
        ac.abort();
      }
    })();
    await assert.rejects(writeFileAtomic(p, endless, { signal: ac.signal }), { name: 'AbortError' });
    assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
  });

  it('renames over a symlink rather than writing through it', async () => {
    const target = join(dir, 'target');
    await writeFile(target, 'target data');
    await symlink(target, join(dir, 'link'));
    await writeFileAtomic(join(dir, 'link'), 'new');
    assert.equal(await readFile(target, 'utf8'), 'target data');
    assert.equal(await readFile(join(dir, 'link'), 'utf8'), 'new');
  });
});
