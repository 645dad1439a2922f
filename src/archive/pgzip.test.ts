import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ParallelGzip } from './pgzip.ts';

const gzip = (data: Buffer) => buffer(Readable.from([data]).pipe(new ParallelGzip(6)));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('parallel gzip', () => {
  it('stores incompressible blocks: random data comes out barely larger and gunzips to the input', async () => {
    const data = randomBytes(3 * (1 << 20) + 12345);
    const out = await gzip(data);
    assert.ok(out.length < data.length * 1.001, `stored output ${out.length} for ${data.length} input`);
    assert.equal(sha(zlib.gunzipSync(out)), sha(data));
  });

  it('still compresses text, mixed with random blocks, into one valid stream', async () => {
    const text = Buffer.from('kiln builds images without a daemon\n'.repeat(60_000));
    const data = Buffer.concat([text, randomBytes(2 << 20), text]);
    const out = await gzip(data);
    assert.ok(out.length < (2 << 20) + text.length / 10, `output ${out.length} should keep text compressed`);
    assert.equal(sha(zlib.gunzipSync(out)), sha(data));
  });

  it('is deterministic: the same bytes give the same output', async () => {
    const data = Buffer.concat([randomBytes(1 << 20), Buffer.alloc(1 << 20, 7)]);
    assert.equal(sha(await gzip(data)), sha(await gzip(data)));
  });
});

describe('parallel gzip stored blocks', () => {
  const gzipAt = (data: Buffer, level: number) => buffer(Readable.from([data]).pipe(new ParallelGzip(level)));
  for (const size of [0, 1, 65535, 65536, 2 * 65535, (1 << 20) + 1, 3 << 20]) {
    it(`level 0 writes stored blocks that gunzip to the input (${size} bytes)`, async () => {
      const data = randomBytes(size);
      const out = await gzipAt(data, 0);
      assert.equal(sha(zlib.gunzipSync(out)), sha(data));
      // 10 header + 8 trailer + 5 bytes per stored block of at most 65535, within 1 MiB blocks.
      let headers = 0;
      for (let left = size; ; left -= 1 << 20) {
        const block = Math.min(left, 1 << 20);
        headers += Math.max(1, Math.ceil(block / 65535));
        if (left <= 1 << 20) break;
      }
      assert.equal(out.length, 18 + size + 5 * headers);
    });
  }

  it('a compressible block after a stored one still uses the stored bytes as its dictionary', async () => {
    const random = randomBytes(1 << 20);
    const data = Buffer.concat([random, random.subarray(0, 1 << 19), Buffer.alloc(1 << 19, 1)]);
    const out = await gzip(data);
    assert.equal(sha(zlib.gunzipSync(out)), sha(data));
  });
});
