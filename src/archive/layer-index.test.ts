import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { createLayer, directoryEntries, type LayerReuse } from './layer.ts';
import { BlobSource, LayerIndex } from './layer-index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-layer-index-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A tree of small files and one of 3 MiB; its layer written to `blob`, with `reuse`. */
async function writeLayer(dir: string, blob: string, reuse?: LayerReuse): Promise<string> {
  const layer = createLayer(await directoryEntries(dir), {
    compression: 'uncompressed',
    presorted: true,
    reuse,
  });
  await pipeline(layer.stream, createWriteStream(blob));
  return (await layer.info).diffID;
}

/** The layer of `dir` written again to `out`, taking files from `blob` (an earlier layer) by `index`. */
async function again(dir: string, blob: string, index: LayerIndex, out: string) {
  const source = new BlobSource(blob);
  try {
    const diffID = await writeLayer(dir, out, { from: { index, blob: source } });
    return { diffID, taken: source.taken, refused: source.refused };
  } finally {
    source.close();
  }
}

/** A tree named `name`, its first layer written to `<name>.tar`, and that layer's index. */
async function firstLayer(name: string, big?: number) {
  const dir = tree(name, big);
  const index = new LayerIndex();
  const blob = join(tmp, `${name}.tar`);
  const diffID = await writeLayer(dir, blob, { index });
  return { dir, index, blob, diffID };
}

function tree(name: string, big = 3 << 20): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'a'), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, 'a', `f${i}`), `file ${i} `.repeat(i + 1));
  writeFileSync(join(dir, 'big'), Buffer.alloc(big, 7));
  return dir;
}

/** Bytes of `file` in the page cache (util-linux's fincore). */
function cached(file: string): number {
  return Number(
    execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }),
  );
}

describe('layer index', () => {
  it('finds a file by inode, birth, mtime and size, and nothing else', () => {
    const ix = new LayerIndex();
    const f = { ino: 12, birthtimeMs: 1000.5, mtimeMs: 900, size: 40 };
    ix.add(f, 1536);
    const back = LayerIndex.from(ix.bytes());
    assert.equal(back.size, 1);
    assert.equal(back.find(f), 1536);
    assert.equal(back.find({ ...f, birthtimeMs: 1000.6 }), undefined, 'the inode number used again');
    assert.equal(back.find({ ...f, mtimeMs: 901 }), undefined);
    assert.equal(back.find({ ...f, size: 41 }), undefined);
    assert.equal(back.find({ ...f, ino: 13 }), undefined);
  });

  it("takes files' bytes from an earlier blob and writes the same layer as reading them", async () => {
    const { dir, index, blob, diffID } = await firstLayer('same');
    assert.equal(index.size, 31, 'every regular file is noted');
    // Each file's bytes are where the index says.
    const bytes = readFileSync(blob);
    const st = lstatSync(join(dir, 'a', 'f3'));
    const at = index.find(st) as number;
    assert.equal(bytes.subarray(at, at + st.size).toString(), readFileSync(join(dir, 'a', 'f3'), 'utf8'));

    assert.deepEqual(await again(dir, blob, index, join(tmp, 'same-again.tar')), {
      diffID,
      taken: 31,
      refused: 0,
    });
  });

  it('reads the file itself where the blob does not hold what the index says', async () => {
    const { dir, index, blob, diffID } = await firstLayer('wrong');
    // An index whose offsets are off by a block: no header of the right size is in front of them.
    const shifted = new LayerIndex();
    for (const name of ['a/f1', 'a/f2', 'big']) {
      const st = lstatSync(join(dir, name));
      shifted.add(st, (index.find(st) as number) + 512);
    }
    assert.deepEqual(await again(dir, blob, shifted, join(tmp, 'wrong-again.tar')), {
      diffID,
      taken: 0,
      refused: 3,
    });
  });

  it('does not take a file that changed since the blob was written', async () => {
    const { dir, index, blob } = await firstLayer('changed');
    // Rewritten in place: the same inode, another mtime.
    writeFileSync(join(dir, 'a', 'f5'), 'other bytes here');
    const out = join(tmp, 'changed-again.tar');
    assert.equal((await again(dir, blob, index, out)).taken, 30);
    assert.ok(readFileSync(out).includes(Buffer.from('other bytes here')), 'the new bytes, from the file');
  });

  it("drops the earlier blob's cached pages behind its reads", async () => {
    // A large file of 20 MiB: pages are dropped while it is read (every 16 MiB) and at the end.
    const { dir, index, blob, diffID } = await firstLayer('dropped', 20 << 20);
    const fd = openSync(blob, 'r');
    fsyncSync(fd); // clean pages: dirty ones are not dropped
    closeSync(fd);
    readFileSync(blob);
    const size = lstatSync(blob).size;
    assert.ok(cached(blob) > size / 2, `the blob is read into the page cache first (${cached(blob)} bytes)`);
    assert.deepEqual(await again(dir, blob, index, join(tmp, 'dropped-again.tar')), {
      diffID,
      taken: 31,
      refused: 0,
    });
    // The drops are advice sent to the mount server's process, not waited for.
    let left = cached(blob);
    for (let i = 0; i < 50 && left > 1 << 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = cached(blob);
    }
    assert.ok(left <= 1 << 20, `${left} of ${size} bytes still cached`);
  });
});
