/** Compression: round trips, stable output whatever the input chunking, magic-byte detection. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  ByteLimit,
  compressStream,
  decompressAuto,
  decompressStream,
  detectCompression,
} from './compress.ts';

// Half random, half repetitive: compressible but not trivially.
const input = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 'kiln layer ')]);

async function run(chunks: Buffer[], t: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), t, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('compression', () => {
  for (const c of ['gzip', 'zstd', 'uncompressed'] as const) {
    it(`${c}: round trip, identical bytes for any input chunking, detected from magic`, async () => {
      const a = await run(chunked(input, 1 << 20), compressStream(c));
      const b = await run(chunked(input, 4097), compressStream(c));
      const d = await run([input], compressStream(c));
      assert.equal(sha(a), sha(b));
      assert.equal(sha(a), sha(d));
      if (c !== 'uncompressed') assert.ok(a.length < input.length * 0.5, `${c} compressed to ${a.length}`);
      assert.equal(detectCompression(a.subarray(0, 4)), c);
      assert.equal(sha(await run(chunked(a, 999), decompressStream(c))), sha(input));
      const auto = await decompressAuto(Readable.from([a.subarray(0, 1), a.subarray(1, 3), a.subarray(3)]));
      assert.equal(auto.compression, c);
      assert.equal(sha(Buffer.concat(await auto.stream.toArray())), sha(input));
    });
  }

  it('gzip output is one standard gzip stream (zlib and GNU gzip read it), at block boundaries too', async () => {
    for (const size of [0, 1, 1 << 20, (1 << 20) + 1, 2 << 20, 3 * (1 << 20) + 77]) {
      const data = Buffer.concat([input, input, input, input]).subarray(0, size);
      const ours = await run(chunked(data, 65536), compressStream('gzip'));
      assert.equal(sha(zlib.gunzipSync(ours)), sha(data), `zlib round trip of ${size} bytes`);
      assert.equal(
        sha(await run(chunked(data, 4097), compressStream('gzip'))),
        sha(ours),
        `stable for ${size} bytes`,
      );
      assert.equal(
        sha(execFileSync('gzip', ['-dc'], { input: ours, maxBuffer: 64 << 20 })),
        sha(data),
        `GNU gzip round trip of ${size} bytes`,
      );
    }
    const level6 = await run([input], compressStream('gzip'));
    const level1 = await run([input], compressStream('gzip', { level: 1 }));
    assert.ok(level6.length < level1.length, 'the level option reaches the compressor');
    assert.ok(level6.length < zlib.gzipSync(input, { level: 6 }).length * 1.01, 'ratio close to plain zlib');
  });

  it('zstd output is a standard frame other decoders accept', async () => {
    const ours = await run([input], compressStream('zstd'));
    assert.equal(sha(zlib.zstdDecompressSync(ours)), sha(input));
  });

  it('accepts "none" and rejects unknown names with a stable code', () => {
    assert.equal(detectCompression(Buffer.from('ustar')), 'uncompressed');
    assert.ok(compressStream('none'));
    assert.throws(() => compressStream('lz4' as 'gzip'), { code: 'COMPRESSION_UNSUPPORTED' });
  });
});

describe('damaged compressed data', () => {
  const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(200_000, 'x')]);
  for (const [c, packed] of [
    ['gzip', zlib.gzipSync(data)],
    ['zstd', zlib.zstdCompressSync(data)],
  ] as const) {
    it(`${c}: a truncated stream fails with COMPRESSED_DATA_CORRUPT, through decompressAuto too`, async () => {
      const cut = packed.subarray(0, packed.length - 3);
      await assert.rejects(run([cut], decompressStream(c)), { code: 'COMPRESSED_DATA_CORRUPT' });
      const auto = await decompressAuto(Readable.from([cut]));
      await assert.rejects(auto.stream.toArray(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'COMPRESSED_DATA_CORRUPT');
        assert.match(err.message, new RegExp(`^${c} data is truncated or corrupt`));
        return true;
      });
    });
  }

  it('an error from upstream passes through the decompressor unchanged', async () => {
    const failing = async function* () {
      yield zlib.gzipSync(data).subarray(0, 1000);
      throw Object.assign(new Error('disk gone'), { code: 'EIO' });
    };
    const auto = await decompressAuto(Readable.from(failing()));
    await assert.rejects(auto.stream.toArray(), { code: 'EIO' });
  });

  it('a stream that fails before anyone reads it does not crash the process', async () => {
    const { stream } = await decompressAuto(Readable.from([zlib.gzipSync(data).subarray(0, 50)]));
    // Nobody reads for a while: the error must wait for the reader, not be thrown at the process.
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(stream.toArray(), { code: 'COMPRESSED_DATA_CORRUPT' });
  });

  it('ByteLimit passes up to its limit and fails with the given error beyond it', async () => {
    const tooLarge = (max: number) => Object.assign(new Error(`over ${max}`), { code: 'LIMIT' });
    assert.equal((await run([data], new ByteLimit(data.length, tooLarge))).length, data.length);
    await assert.rejects(run(chunked(data, 4096), new ByteLimit(data.length - 1, tooLarge)), {
      code: 'LIMIT',
      message: `over ${data.length - 1}`,
    });
  });
});
