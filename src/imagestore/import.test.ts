import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';
import { loadConfig, loadManifest } from '../image/load.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { openStore } from '../store/store.ts';
import { tarBytes } from '../testing/tar.ts';
import { importRootfs } from './import.ts';

async function tar(): Promise<Buffer> {
  return tarBytes(async (w) => {
    await w.add({ path: 'etc/', type: 'directory' });
    await w.add({ path: 'etc/hostname', type: 'file' }, Buffer.from('box\n'));
  });
}

describe('image import', () => {
  it('a gzipped rootfs becomes one gzip layer whose diffID is the tar digest, with the changes applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-import-'));
    const store = openStore(dir);
    try {
      const rootfs = await tar();
      const res = await store.withLease((c) =>
        importRootfs(Readable.from([gzipSync(rootfs)]), c, store.images, {
          name: 'imported:1',
          platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
          changes: ['ENTRYPOINT ["/bin/app"]', 'EXPOSE 8080'],
          created: new Date('2020-02-02T00:00:00Z'),
        }),
      );
      assert.equal(res.diffID, sha256(rootfs));
      const m = await loadManifest(store.content, res.manifest);
      assert.equal(m.layers[0].mediaType, MediaType.OciLayerGzip);
      const cfg = await loadConfig(store.content, m);
      assert.deepEqual(
        [cfg.os, cfg.architecture, cfg.variant, cfg.created],
        ['linux', 'arm', 'v7', '2020-02-02T00:00:00.000Z'],
      );
      assert.deepEqual(cfg.config, { Entrypoint: ['/bin/app'], ExposedPorts: { '8080/tcp': {} } });
      assert.deepEqual(cfg.rootfs.diff_ids, [sha256(rootfs)]);
      assert.equal((await store.images.get('imported:1'))?.target.digest, res.manifest.digest);
    } finally {
      store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a file that is not a tar is refused with IMPORT_NOT_TAR and leaves no image', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-import-'));
    const store = openStore(dir);
    try {
      const junk = Buffer.alloc(4096, 'not a tarball ');
      await assert.rejects(
        store.withLease((c) => importRootfs(Readable.from([junk]), c, store.images, { name: 'x:1' })),
        (e) => hasCode(e, 'IMPORT_NOT_TAR'),
      );
      assert.deepEqual(await store.images.list(), []);
    } finally {
      store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
