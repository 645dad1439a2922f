import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hostPlatform } from '../../../src/oci/platform.ts';
import type { ProgressEvent } from '../../../src/progress/events.ts';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { anonymous, makeImage, makeIndex, tempStore } from './helpers.ts';

describe('push and pull through a plain docker-registry', () => {
  let reg: TestRegistry;
  const src = tempStore();
  const dst = tempStore();
  before(async () => {
    reg = await sharedRegistry();
  });
  after(() => {
    src.cleanup();
    dst.cleanup();
  });

  it('round-trips a single-platform image with identical digests, chunked and monolithic', async () => {
    // A small chunk size makes the 300 KiB layer go up in PATCH chunks, the others in one PUT.
    const client = new RegistryClient({ credentials: anonymous, chunkSize: 64 << 10 });
    const img = await makeImage(src, [300 << 10, 1000, 10]);
    const ref = `${reg.host}/kiln-test/roundtrip:v1`;
    const events: ProgressEvent[] = [];
    const pushed = await pushImage({ root: img.manifest, blobs: src.content }, ref, {
      client,
      onProgress: (e) => events.push(e),
    });
    assert.equal(pushed.descriptor.digest, img.manifest.digest);
    assert.equal(pushed.stats.uploaded, 4);
    assert.ok(events.some((e) => e.type === 'status' && e.done && e.current === img.layers[0].size));

    // Pushing again uploads nothing.
    const again = await pushImage({ root: img.manifest, blobs: src.content }, ref, { client });
    assert.equal(again.stats.uploaded, 0);

    const pulled = await pullImage(ref, { client, content: dst.content, images: dst.images });
    assert.equal(pulled.name, `${reg.host}/kiln-test/roundtrip:v1`);
    assert.equal(pulled.descriptor.digest, img.manifest.digest);
    for (const l of [...img.layers, img.config, img.manifest]) {
      assert.deepEqual(await dst.content.readBlob(l.digest), await src.content.readBlob(l.digest));
    }
    assert.equal((await dst.images.get(pulled.name))?.target.digest, img.manifest.digest);
    // A second pull fetches no blob again.
    const second = await pullImage(ref, { client, content: dst.content, images: dst.images });
    assert.equal(second.copy.copied, 1, 'only the named root manifest is rewritten');
  });

  it('pushes an index after its children and pulls the host platform out of it', async () => {
    const client = new RegistryClient({ credentials: anonymous });
    const host = hostPlatform();
    const a = await makeImage(src, [2000], host);
    const b = await makeImage(src, [3000], {
      os: 'linux',
      architecture: host.architecture === 'arm64' ? 'amd64' : 'arm64',
    });
    const index = await makeIndex(src, [a.manifest, b.manifest]);
    const ref = `${reg.host}/kiln-test/multi:latest`;
    await pushImage({ root: index, blobs: src.content }, ref);
    const viaClient = await pushImage({ root: index, blobs: src.content }, ref, { client });
    assert.equal(viaClient.reference, `${ref}@${index.digest}`);

    const store = tempStore();
    try {
      const pulled = await pullImage(ref, { client, content: store.content, images: store.images });
      assert.equal(pulled.index?.digest, index.digest);
      assert.equal(pulled.descriptor.digest, a.manifest.digest);
      assert.equal(
        await store.content.info(b.layers[0].digest),
        undefined,
        'the other platform is not fetched',
      );
      const all = await pullImage(ref, {
        client,
        content: store.content,
        images: store.images,
        platform: 'all',
      });
      assert.equal(all.descriptor.digest, index.digest);
      assert.ok(await store.content.info(b.layers[0].digest));
    } finally {
      store.cleanup();
    }
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    const client = new RegistryClient({ credentials: anonymous });
    const img = await makeImage(src, [5000, 6000]);
    await pushImage({ root: img.manifest, blobs: src.content }, `${reg.host}/kiln-test/base:1`, { client });
    const res = await pushImage(
      { root: img.manifest, blobs: src.content },
      `${reg.host}/kiln-test/derived:1`,
      {
        client,
        mountFrom: ['kiln-test/base'],
      },
    );
    assert.equal(res.stats.mounted, 3);
    assert.equal(res.stats.uploaded, 0);
  });

  it('fails with a clear error naming registry, repository and status for a missing image', async () => {
    const client = new RegistryClient({ credentials: anonymous });
    const store = tempStore();
    try {
      await assert.rejects(
        pullImage(`${reg.host}/kiln-test/nope:missing`, {
          client,
          content: store.content,
          images: store.images,
        }),
        (err: Error & { code?: string; hint?: string }) => {
          assert.equal(err.code, 'REGISTRY_NOT_FOUND');
          assert.match(
            err.message,
            new RegExp(`registry ${reg.host.replace(/\./g, '\\.')}, repository kiln-test/nope: HTTP 404`),
          );
          assert.ok(err.hint);
          return true;
        },
      );
    } finally {
      store.cleanup();
    }
  });
});
