import assert from 'node:assert/strict';
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { prepareDirDest, writeToDest } from './dest.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-dest-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const stdout = new PassThrough();

describe('writeToDest', () => {
  it('a new path becomes a file with every byte', async () => {
    await writeToDest(
      join(dir, 'new'),
      [Buffer.from('a'), Buffer.from('b')] as unknown as AsyncIterable<Buffer>,
      {
        stdout,
      },
    );
    assert.equal(await readFile(join(dir, 'new'), 'utf8'), 'ab');
  });

  it('/dev/null is written into, not replaced', async () => {
    await writeToDest('/dev/null', 'bytes', { stdout });
    assert.ok(lstatSync('/dev/null').isCharacterDevice());
  });

  it('a directory is refused with OUTPUT_DEST_INVALID naming it', async () => {
    await mkdir(join(dir, 'd'));
    await assert.rejects(writeToDest(join(dir, 'd'), 'x', { stdout, what: 'the thing' }), {
      code: 'OUTPUT_DEST_INVALID',
      message: `cannot write the thing to ${join(dir, 'd')}: it is a directory`,
    });
    assert.deepEqual(await readdir(join(dir, 'd')), []);
  });

  it('- writes to the given stdout and resolves once it is all written', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await writeToDest('-', 'to stdout', { stdout: out });
    assert.equal(Buffer.concat(chunks).toString(), 'to stdout');
  });
});

describe('prepareDirDest', () => {
  it('creates a missing directory and refuses a file', async () => {
    const made = await prepareDirDest(join(dir, 'x', 'y'));
    assert.ok(lstatSync(made).isDirectory());
    await assert.rejects(prepareDirDest(join(dir, 'new')), {
      code: 'OUTPUT_DEST_INVALID',
      message: /it is a regular file/,
    });
  });
});
