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
