import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { sha256 } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';
import { copyImage } from '../image/copy.ts';
import { localImageSource } from '../imagestore/imagestore.ts';
import { importRootfs } from '../imagestore/import.ts';
import { openStore } from '../store/store.ts';
import { tarBytes } from '../testing/tar.ts';
import { layoutSource, OciLayoutSink, readLayoutIndex } from './layout.ts';

async function tinyRootfs(): Promise<Buffer> {
  return tarBytes(async (w) => {
    await w.add({ path: 'a.txt', type: 'file' }, Buffer.from('a'));
  });
}

describe('OCI image layout directory', () => {
  it('an image copied into a layout and back keeps its digest; index.json carries both names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    const a = openStore(join(dir, 'a'));
    const b = openStore(join(dir, 'b'));
    try {
      await a.withLease(async (c) =>
        importRootfs(Readable.from([await tinyRootfs()]), c, a.images, { name: 'app:1' }),
      );
      const src = await localImageSource(a.content, a.images, 'app:1');
      const layout = join(dir, 'layout');
      await copyImage(src, new OciLayoutSink(layout), { tag: 'app:1' });
      await copyImage(src, new OciLayoutSink(layout), { tag: 'app:1' }); // re-tag replaces, no duplicate
      const index = await readLayoutIndex(layout);
      assert.equal(index.manifests.length, 1);
      assert.deepEqual(index.manifests[0].annotations, {
        'io.containerd.image.name': 'docker.io/library/app:1',
        'org.opencontainers.image.ref.name': '1',
      });
      assert.equal(await readFile(join(layout, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
      for (const name of ['app:1', '1', undefined]) {
        const back = await layoutSource(layout, name);
        assert.equal(back.root.digest, src.root.digest);
      }
      await b.importImage(await layoutSource(layout, 'app:1'), { tag: 'copied:1' });
      assert.equal((await b.images.get('copied:1'))?.target.digest, src.root.digest);
      await assert.rejects(layoutSource(layout, 'other:1'), (e) => hasCode(e, 'IMAGE_NOT_FOUND'));
      await assert.rejects(layoutSource(dir), (e) => hasCode(e, 'NOT_OCI_LAYOUT'));
    } finally {
      a.close();
      b.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('refuses to write through a symlink left inside the layout; a blob-named symlink is replaced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-layout-'));
    const sentinel = join(dir, 'sentinel');
    await mkdir(join(sentinel, 'sha256'), { recursive: true });
    await writeFile(join(sentinel, 'secret'), 'host');
    const snapshot = async () => [
      await readdir(sentinel),
      await readdir(join(sentinel, 'sha256')),
      await readFile(join(sentinel, 'secret'), 'utf8'),
    ];
    const before = await snapshot();
    const bytes = Buffer.from('{"schemaVersion":2}');
    const desc = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha256(bytes),
      size: bytes.length,
    };
    try {
      for (const [name, target] of [
        ['blobs', sentinel],
        ['index.json', join(sentinel, 'secret')],
        ['oci-layout', join(sentinel, 'secret')],
      ]) {
        const layout = join(dir, `l-${name}`);
        await mkdir(layout);
        await symlink(target, join(layout, name));
        await assert.rejects(new OciLayoutSink(layout).putManifest(desc, bytes, 'app:1'), (e) =>
          hasCode(e, 'LAYOUT_UNSAFE'),
        );
      }
      const nested = join(dir, 'l-alg');
      await mkdir(join(nested, 'blobs'), { recursive: true });
      await symlink(join(sentinel, 'sha256'), join(nested, 'blobs', 'sha256'));
      await assert.rejects(new OciLayoutSink(nested).putManifest(desc, bytes), (e) =>
        hasCode(e, 'LAYOUT_UNSAFE'),
      );
      // A symlink at the blob's own name is replaced by the blob, not written through.
      const blob = join(dir, 'l-blob');
      await mkdir(join(blob, 'blobs', 'sha256'), { recursive: true });
      const at = join(blob, 'blobs', 'sha256', desc.digest.slice('sha256:'.length));
      await symlink(join(sentinel, 'secret'), at);
      const sink = new OciLayoutSink(blob);
      assert.equal(await sink.hasBlob(desc), false);
      await sink.putManifest(desc, bytes, 'app:1');
      assert.ok((await lstat(at)).isFile());
      assert.equal(await readFile(at, 'utf8'), bytes.toString());
      assert.deepEqual(await snapshot(), before, 'the sentinel outside the layout changed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('two processes writing blobs into one new layout at once both succeed', async () => {
    // Two builds exporting their cache to one directory: each makes blobs/sha256 if absent, and
    // the one that loses the race must not take the other's directory for something planted.
    const { spawn } = await import('node:child_process');
    const base = await mkdtemp(join(tmpdir(), 'kiln-layout-race-'));
    const writer = `
      import { Readable } from 'node:stream';
      import { createHash } from 'node:crypto';
      import { OciLayoutSink } from ${JSON.stringify(new URL('./layout.ts', import.meta.url).href)};
      const bytes = Buffer.from(process.argv[2]);
      const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      await new OciLayoutSink(process.argv[1]).putBlob(
        { mediaType: 'application/octet-stream', digest, size: bytes.length }, Readable.from([bytes]));`;
    const put = (dir: string, text: string) =>
      new Promise<string>((resolve) => {
        const p = spawn(process.execPath, ['--input-type=module', '-e', writer, dir, text], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        p.stderr.on('data', (d) => {
          err += d;
        });
        p.on('close', (code) => resolve(code === 0 ? 'ok' : err));
      });
    try {
      // The window is a few microseconds wide: on the old code 5 rounds in 40 lost it.
      for (let i = 0; i < 40; i++) {
        const dir = join(base, String(i));
        await mkdir(dir);
        assert.deepEqual(await Promise.all([put(dir, `a${i}`), put(dir, `b${i}`)]), ['ok', 'ok']);
        assert.equal((await readdir(join(dir, 'blobs', 'sha256'))).length, 2);
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
