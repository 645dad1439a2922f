import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkSecrets, MAX_SECRET_SIZE, readSecretFile, secretSource } from './secrets.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-secrets-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('secret sources', () => {
  it("the limit is BuildKit's: 500 KiB, inclusive", async () => {
    assert.equal(MAX_SECRET_SIZE, 512000);
    await writeFile(join(dir, 'max'), Buffer.alloc(MAX_SECRET_SIZE, 1));
    assert.equal((await readSecretFile('max', join(dir, 'max'))).length, MAX_SECRET_SIZE);
    await writeFile(join(dir, 'over'), Buffer.alloc(MAX_SECRET_SIZE + 1, 1));
    await assert.rejects(readSecretFile('over', join(dir, 'over')), { code: 'SECRET_TOO_LARGE' });
    await assert.rejects(checkSecrets([{ id: 'over', src: join(dir, 'over') }]), {
      code: 'SECRET_TOO_LARGE',
      message: /is 512001 bytes, over the limit of 512000 bytes/,
    });
  });

  it('a source without a size (/dev/zero) is read only to one byte past the limit', async () => {
    await checkSecrets([{ id: 'z', src: '/dev/zero' }]);
    await assert.rejects(readSecretFile('z', '/dev/zero'), {
      code: 'SECRET_TOO_LARGE',
      message: /secret "z" \(\/dev\/zero\) is larger than the limit of 512000 bytes/,
    });
  });

  it('a FIFO is read to its end', async () => {
    const fifo = join(dir, 'fifo');
    await new Promise((r) => spawn('mkfifo', [fifo]).on('close', r));
    const writer = spawn('sh', ['-c', 'printf token > "$1"', 'sh', fifo]);
    const written = new Promise((r) => writer.on('close', r));
    assert.equal((await readSecretFile('f', fifo)).toString(), 'token');
    await written;
  });

  it('a directory or a missing file is refused by name', async () => {
    await mkdir(join(dir, 'd'));
    await assert.rejects(checkSecrets([{ id: 'd', src: join(dir, 'd') }]), {
      code: 'SECRET_SOURCE_INVALID',
      message: /secret "d": .* is a directory, not a file/,
    });
    await assert.rejects(readSecretFile('d', join(dir, 'd')), { code: 'SECRET_SOURCE_INVALID' });
    await assert.rejects(readSecretFile('m', join(dir, 'missing')), {
      code: 'SECRET_SOURCE_INVALID',
      message: /cannot read .*missing: ENOENT/,
    });
  });

  it('an environment variable is bounded too; an id without a source reads the variable of its name', async () => {
    process.env.KILN_TEST_SECRET = 'from env';
    process.env.KILN_TEST_BIG = 'x'.repeat(MAX_SECRET_SIZE + 1);
    try {
      const src = secretSource([
        { id: 'a', env: 'KILN_TEST_SECRET' },
        { id: 'KILN_TEST_SECRET' },
        { id: 'big', env: 'KILN_TEST_BIG' },
      ]);
      assert.equal((await src.get('a'))?.toString(), 'from env');
      assert.equal((await src.get('KILN_TEST_SECRET'))?.toString(), 'from env');
      assert.equal(await src.get('absent'), undefined);
      await assert.rejects(src.get('big'), { code: 'SECRET_TOO_LARGE' });
    } finally {
      delete process.env.KILN_TEST_SECRET;
      delete process.env.KILN_TEST_BIG;
    }
  });
});
