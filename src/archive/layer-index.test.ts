import assert from 'node:assert/strict';
import {
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
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

function tree(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'a'), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, 'a', `f${i}`), `file ${i} `.repeat(i + 1));
  writeFileSync(join(dir, 'big'), Buffer.alloc(3 << 20, 7));
  return dir;
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
    const dir = tree('same');
    const index = new LayerIndex();
    const first = await writeLayer(dir, join(tmp, 'first.tar'), { index });
    assert.equal(index.size, 31, 'every regular file is noted');
    // Each file's bytes are where the index says.
    const bytes = readFileSync(join(tmp, 'first.tar'));
    const st = lstatSync(join(dir, 'a', 'f3'));
    const at = index.find(st) as number;
    assert.equal(bytes.subarray(at, at + st.size).toString(), readFileSync(join(dir, 'a', 'f3'), 'utf8'));

    const blob = new BlobSource(join(tmp, 'first.tar'));
    const again = await writeLayer(dir, join(tmp, 'again.tar'), { from: { index, blob } });
    blob.close();
    assert.equal(again, first);
    assert.equal(blob.taken, 31);
    assert.equal(blob.refused, 0);
  });

  it('reads the file itself where the blob does not hold what the index says', async () => {
    const dir = tree('wrong');
    const index = new LayerIndex();
    const first = await writeLayer(dir, join(tmp, 'wrong.tar'), { index });
    // An index whose offsets are off by a block: no header of the right size is in front of them.
    const shifted = new LayerIndex();
    for (const name of ['a/f1', 'a/f2', 'big']) {
      const st = lstatSync(join(dir, name));
      shifted.add(st, (index.find(st) as number) + 512);
    }
    const blob = new BlobSource(join(tmp, 'wrong.tar'));
    const again = await writeLayer(dir, join(tmp, 'wrong-again.tar'), { from: { index: shifted, blob } });
    blob.close();
    assert.equal(again, first);
    assert.equal(blob.taken, 0);
    assert.equal(blob.refused, 3);
  });

  it('does not take a file that changed since the blob was written', async () => {
    const dir = tree('changed');
    const index = new LayerIndex();
    await writeLayer(dir, join(tmp, 'changed.tar'), { index });
    // Rewritten in place: the same inode, another mtime.
    writeFileSync(join(dir, 'a', 'f5'), 'other bytes here');
    const blob = new BlobSource(join(tmp, 'changed.tar'));
    const out = join(tmp, 'changed-again.tar');
    await writeLayer(dir, out, { from: { index, blob } });
    blob.close();
    assert.equal(blob.taken, 30);
    assert.ok(readFileSync(out).includes(Buffer.from('other bytes here')), 'the new bytes, from the file');
  });
});
