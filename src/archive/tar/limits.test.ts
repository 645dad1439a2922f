/** The tar reader's bounds on metadata held in memory: PAX and GNU long-name headers. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BLOCK, completeHeader, encodeHeader, encodePax, padding } from './header.ts';
import { readTar } from './reader.ts';

/** A metadata member ('x', 'g', 'L', 'K') carrying `body`: a ustar block with its flag patched. */
function meta(flag: string, body: Buffer): Buffer {
  const block = encodeHeader(completeHeader({ path: 'meta', type: 'file', size: body.length }));
  block[156] = flag.charCodeAt(0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([block, body, Buffer.alloc(padding(body.length))]);
}

const file = encodeHeader(completeHeader({ path: 'f', type: 'file', size: 0 }));
const end = Buffer.alloc(2 * BLOCK);

async function entries(tar: Buffer): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(Readable.from([tar]))) out.push(e.path);
  return out;
}

describe('tar metadata bounds', () => {
  it('ordinary PAX and long names are read', async () => {
    const tar = Buffer.concat([
      meta('g', encodePax([['comment', Buffer.from('hi')]])),
      meta('L', Buffer.from(`${'d/'.repeat(200)}name\0`)),
      file,
      end,
    ]);
    assert.deepEqual(await entries(tar), [`${'d/'.repeat(200)}name`]);
  });

  it('one metadata header over 8 MiB is TAR_INVALID before it is read', async () => {
    const tar = Buffer.concat([meta('L', Buffer.alloc((8 << 20) + 1, 0x61)), file, end]);
    await assert.rejects(entries(tar), { code: 'TAR_INVALID', message: /oversized metadata record/ });
  });

  it('a chain of local PAX headers piling up over 8 MiB for one entry is TAR_INVALID', async () => {
    const one = meta('x', encodePax([['comment', Buffer.alloc(1 << 20, 0x62)]]));
    await assert.rejects(entries(Buffer.concat([...Array(9).fill(one), file, end])), {
      code: 'TAR_INVALID',
      message: /pending for one entry/,
    });
    // The same headers spread over entries are fine: the count starts again at each entry.
    assert.equal(
      (await entries(Buffer.concat([...Array(9).fill(Buffer.concat([one, file])), end]))).length,
      9,
    );
  });

  it('global PAX records setting more than 1000 keys are TAR_INVALID', async () => {
    const records: [string, Buffer][] = [];
    for (let i = 0; i < 1001; i++) records.push([`kiln.k${i}`, Buffer.from('v')]);
    await assert.rejects(entries(Buffer.concat([meta('g', encodePax(records)), file, end])), {
      code: 'TAR_INVALID',
      message: /global PAX records grow past 1000 keys/,
    });
  });
});
