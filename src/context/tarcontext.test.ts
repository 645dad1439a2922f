/** A tar context on stdin is extracted and then walks and hashes like a directory. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { checksum } from './checksum.ts';
import { contextFromTar } from './tarcontext.ts';
import { walkContext } from './walk.ts';

const tree = mkdtempSync(join(tmpdir(), 'kiln-tarctx-'));
after(() => rmSync(tree, { recursive: true, force: true }));
mkdirSync(join(tree, 'src'));
writeFileSync(join(tree, 'Dockerfile'), 'FROM scratch\nCOPY . .\n');
writeFileSync(join(tree, 'src/app.js'), 'console.log(1)');
const plain = execFileSync('tar', ['-C', tree, '-cf', '-', 'Dockerfile', 'src']);

describe('contextFromTar', () => {
  for (const [kind, tool] of [
    ['plain', ''],
    ['gzip', 'gzip'],
    ['bzip2', 'bzip2'],
    ['xz', 'xz'],
    ['zstd', 'zstd'],
  ]) {
    it(`extracts a ${kind} context`, async () => {
      const bytes = tool === '' ? plain : execFileSync(tool, ['-c'], { input: plain });
      // Deliver in small chunks, as a pipe would.
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
      const ctx = await contextFromTar(Readable.from(chunks));
      try {
        assert.deepEqual(
          walkContext(ctx.dir).map((e) => `${e.type} ${e.path}`),
          ['file Dockerfile', 'dir src', 'file src/app.js'],
        );
        assert.equal(readFileSync(join(ctx.dir, 'src/app.js'), 'utf8'), 'console.log(1)');
        assert.equal(checksum({ root: ctx.dir, paths: ['src'] }), checksum({ root: tree, paths: ['src'] }));
      } finally {
        ctx.cleanup();
      }
    });
  }
  it('rejects something that is not a tar', async () => {
    await assert.rejects(contextFromTar(Readable.from([Buffer.from('FROM scratch\n'.repeat(100))])), {
      code: 'CONTEXT_TAR_INVALID',
    });
  });
});
