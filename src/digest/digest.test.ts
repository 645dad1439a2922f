/** Digests: parsing, and streams verified against an expected digest and size. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseDigest, sha256, verifying } from './digest.ts';

describe('verifying', () => {
  const bytes = Buffer.from('kiln blob');

  it('passes bytes that match', async () => {
    const out = await verifying(Readable.from([bytes]), {
      digest: sha256(bytes),
      size: bytes.length,
    }).toArray();
    assert.deepEqual(Buffer.concat(out), bytes);
  });

  for (const [name, expected, code] of [
    ['other bytes', { digest: sha256('other'), size: bytes.length }, 'DIGEST_MISMATCH'],
    ['fewer bytes', { digest: sha256(bytes), size: bytes.length + 1 }, 'SIZE_MISMATCH'],
    ['more bytes', { digest: sha256(bytes), size: bytes.length - 1 }, 'SIZE_MISMATCH'],
  ] as const) {
    it(`${name}: the reader gets ${code}, even when it starts reading after the mismatch was found`, async () => {
      const s = verifying(Readable.from([bytes]), expected);
      // The whole blob flows into the verifier at once; before the fix its error was thrown at
      // the process because nobody was listening yet.
      await new Promise((r) => setTimeout(r, 20));
      await assert.rejects(s.toArray(), { code });
    });
  }

  it('an input error reaches the reader', async () => {
    const input = new Readable({
      read() {
        this.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
      },
    });
    await assert.rejects(verifying(input, { digest: sha256(bytes), size: 9 }).toArray(), {
      code: 'ECONNRESET',
    });
  });
});

describe('parseDigest', () => {
  it('refuses what is not algorithm:hex of the right length', () => {
    assert.throws(() => parseDigest('sha256:abc'), { code: 'INVALID_DIGEST' });
    assert.equal(parseDigest(sha256('x')), sha256('x'));
  });
});
