/** A tar context on stdin is extracted and then walks and hashes like a directory. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { checksum } from './checksum.ts';
import { forgetHanded, handedDigest } from './handed.ts';
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
  it('hands over the digest of each file as extracted, and none once the file changes or the directory goes', async () => {
    const ctx = await contextFromTar(Readable.from([plain]));
    const abs = join(ctx.dir, 'src/app.js');
    const id = (p: string) => {
      const st = lstatSync(p);
      return { size: st.size, mtimeUs: Math.round(st.mtimeMs * 1000), ino: st.ino, mode: st.mode };
    };
    const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    try {
      assert.equal(handedDigest(abs, id(abs)), sha('console.log(1)'));
      assert.equal(
        handedDigest(join(ctx.dir, 'Dockerfile'), id(join(ctx.dir, 'Dockerfile'))),
        sha('FROM scratch\nCOPY . .\n'),
      );
      // Another identity (here: another inode) is not trusted: the caller hashes, and caches nothing.
      assert.equal(handedDigest(abs, { ...id(abs), ino: id(abs).ino + 1 }), null);
      // Replaced by its owner with the same size and mtime (the inode may well be reused): once
      // forgotten, the checksum reads the new bytes.
      const before = checksum({ root: ctx.dir, paths: ['src'] });
      const st = lstatSync(abs);
      forgetHanded(abs);
      rmSync(abs);
      writeFileSync(abs, 'console.log(2)');
      utimesSync(abs, st.atime, st.mtime);
      assert.notEqual(checksum({ root: ctx.dir, paths: ['src'] }), before);
      assert.equal(checksum({ root: ctx.dir, paths: ['src'] }), checksum({ root: ctx.dir, paths: ['src'] }));
    } finally {
      ctx.cleanup();
    }
    assert.equal(handedDigest(abs, { size: 14, mtimeUs: 0, ino: 1, mode: 0o100644 }), undefined);
  });
  it('rejects something that is not a tar', async () => {
    await assert.rejects(contextFromTar(Readable.from([Buffer.from('FROM scratch\n'.repeat(100))])), {
      code: 'CONTEXT_TAR_INVALID',
    });
  });
});
