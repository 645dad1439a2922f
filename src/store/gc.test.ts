import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sha256 } from '../digest/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { fsck } from './fsck.ts';
import { collectGarbage, diskUsage, prune } from './gc.ts';
import { openStore, type Store } from './store.ts';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-gc-'));
  store = openStore(dir);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

async function blob(mediaType: string, data: string | Buffer): Promise<Descriptor> {
  const info = await store.content.writeBlob(Buffer.from(data));
  return { mediaType, digest: info.digest, size: info.size };
}

/** An image with a shared base layer and a layer of its own. */
async function image(
  name: string,
  own: string,
  arch = 'amd64',
): Promise<{ manifest: Descriptor; layers: Descriptor[] }> {
  const base = await blob(MediaType.OciLayer, 'shared base layer bytes');
  const mine = await blob(MediaType.OciLayer, own);
  const config = await blob(
    MediaType.OciConfig,
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [base.digest, mine.digest] },
    }),
  );
  const manifest = await blob(
    MediaType.OciManifest,
    encodeManifest({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [base, mine] }),
  );
  if (name) await store.images.put(name, manifest);
  return { manifest, layers: [base, mine] };
}

describe('garbage collection', () => {
  it('keeps every blob a named image reaches and removes the rest', async () => {
    const a = await image('a:1', 'layer of a');
    const orphan = await blob(MediaType.OciLayer, 'nobody needs me');
    const res = await collectGarbage(store);
    assert.deepEqual(
      res.removedBlobs.map((b) => b.digest),
      [orphan.digest],
    );
    assert.ok(await store.content.info(a.layers[1].digest));
    assert.equal(await store.content.info(orphan.digest), undefined);
  });

  it('removing a name frees only what no other name uses', async () => {
    const a = await image('a:1', 'layer of a');
    const b = await image('b:1', 'layer of b');
    await store.images.delete('a:1');
    await collectGarbage(store);
    assert.equal(await store.content.info(a.layers[1].digest), undefined);
    assert.ok(await store.content.info(b.layers[0].digest), 'shared base layer survives');
  });

  it('a live lease protects blobs until the lease is deleted or expires', async () => {
    const lease = store.meta.createLease({ ttlMs: 60_000 });
    const held = await store.content.withLease(lease.id).writeBlob(Buffer.from('building...'));
    await collectGarbage(store);
    assert.ok(await store.content.info(held.digest));
    const later = await collectGarbage(store, { now: Date.now() + 120_000 });
    assert.equal(later.expiredLeases, 1);
    assert.equal(await store.content.info(held.digest), undefined);
  });

  it('writes through the plain store inside withLease are held by that lease', async () => {
    let digest = '';
    await store.withLease(async () => {
      digest = (await store.content.writeBlob(Buffer.from('written via store.content'))).digest;
      await collectGarbage(store);
      assert.ok(await store.content.info(digest as `sha256:${string}`), 'kept while the lease lives');
    });
    await collectGarbage(store);
    assert.equal(
      await store.content.info(digest as `sha256:${string}`),
      undefined,
      'collected once the lease is gone',
    );
  });

  it('a leased manifest protects its layers too', async () => {
    const { manifest, layers } = await image('', 'leased layer');
    const lease = store.meta.createLease();
    store.meta.addLeaseBlob(lease.id, manifest.digest);
    await collectGarbage(store);
    assert.ok(await store.content.info(layers[1].digest));
  });

  it('blobs a leased operation reads are held until it ends, without a database write', async () => {
    const { manifest, layers } = await image('base:1', 'read by a build');
    const gone = sha256('never stored');
    await store.withLease(async (leased) => {
      assert.deepEqual(await leased.hold([manifest.digest, gone]), [gone], 'hold reports what is absent');
      assert.deepEqual(store.meta.listLeases(), [], 'the lease row is still unwritten');
      await prune(store, { all: true });
      assert.ok(await store.content.info(layers[0].digest), 'the held manifest keeps its layers');
      // A store opened apart, as in another process, sees the hold too: it is a file on disk.
      const other = openStore(dir);
      try {
        await collectGarbage(other);
      } finally {
        other.close();
      }
      assert.ok(await store.content.info(manifest.digest));
    });
    await collectGarbage(store);
    assert.equal(await store.content.info(manifest.digest), undefined, 'collected once the operation ends');
  });

  it('prune --all --keep-storage removes the least recently named images first', async () => {
    await image('old:1', 'x'.repeat(1000));
    await new Promise((r) => setTimeout(r, 5));
    await image('new:1', 'y'.repeat(1000));
    const before = await diskUsage(store);
    const newest = before.images.find((i) => i.name.includes('new'))!;
    const res = await prune(store, { all: true, keepStorage: newest.size });
    assert.deepEqual(res.removedImages, ['docker.io/library/old:1']);
    assert.deepEqual(
      (await store.images.list()).map((r) => r.name),
      ['docker.io/library/new:1'],
    );
  });
});

describe('disk usage', () => {
  it('splits each image into unique and shared bytes and counts reclaimable ones', async () => {
    await image('a:1', 'aaaa');
    await image('b:1', 'bbbbbb');
    await blob(MediaType.OciLayer, 'junk!');
    const du = await diskUsage(store);
    const a = du.images.find((i) => i.name === 'docker.io/library/a:1')!;
    const base = Buffer.byteLength('shared base layer bytes');
    assert.equal(a.shared, base);
    assert.equal(a.unique, a.size - base);
    assert.equal(du.shared, base);
    assert.equal(du.reclaimable, 5);
    assert.equal(du.blobs, 8);
  });
});

describe('fsck', () => {
  it('a healthy store is sound', async () => {
    await image('a:1', 'aaaa');
    const r = await fsck(store);
    assert.equal(r.sound, true);
    assert.equal(r.checkedBlobs, 4);
  });

  it('finds a corrupt blob, a missing layer and a stray file', async () => {
    const { layers } = await image('a:1', 'aaaa');
    const other = await image('b:1', 'bbbb');
    await writeFile(store.content.blobPath(layers[1].digest), 'bit rot');
    await unlink(store.content.blobPath(other.layers[1].digest));
    await writeFile(join(dir, 'blobs', 'sha256', 'leftover.tmp'), 'x');
    const r = await fsck(store);
    assert.equal(r.sound, false);
    assert.deepEqual(
      r.corrupt.map((c) => [c.digest, c.actual]),
      [[layers[1].digest, sha256('bit rot')]],
    );
    assert.deepEqual(
      r.missing.map((m) => [m.image, m.digest]),
      [['docker.io/library/b:1', other.layers[1].digest]],
    );
    assert.deepEqual(r.strays, [join(dir, 'blobs', 'sha256', 'leftover.tmp')]);
  });

  it('an index whose other platforms were never pulled is partial, not unsound', async () => {
    const amd = await image('', 'amd');
    const absent: Descriptor = {
      mediaType: MediaType.OciManifest,
      digest: sha256('not here'),
      size: 8,
      platform: { os: 'linux', architecture: 'arm64' },
    };
    const index = await blob(
      MediaType.OciIndex,
      encodeManifest({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd.manifest, absent] }),
    );
    await store.images.put('multi:1', index);
    const r = await fsck(store);
    assert.equal(r.sound, true);
    assert.deepEqual(
      r.partial.map((p) => p.digest),
      [absent.digest],
    );
  });
});
