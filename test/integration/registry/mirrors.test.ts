import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/registry/client.ts';
import { parseRegistryConfig } from '../../../src/registry/hosts.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { sharedRegistry, startRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { anonymous, makeImage, tempStore } from './helpers.ts';

describe('mirrors', () => {
  let origin: TestRegistry;
  let mirror: TestRegistry;
  let mirrorProxy: FaultProxy;
  const store = tempStore();
  before(async () => {
    origin = await sharedRegistry();
    mirror = await startRegistry();
    mirrorProxy = await startFaultProxy(mirror.host);
  });
  after(async () => {
    await mirrorProxy.close();
    await mirror.stop();
    store.cleanup();
  });

  it('pulls from a mirror first and falls back to the origin when the mirror lacks the image', async () => {
    const plain = new RegistryClient({ credentials: anonymous });
    const onMirror = await makeImage(store, [1000]);
    const onOriginOnly = await makeImage(store, [1200]);
    // The same repository on both; the mirror has only tag "m".
    await pushImage({ root: onMirror.manifest, blobs: store.content }, `${mirror.host}/mirrored/app:m`, {
      client: plain,
    });
    await pushImage({ root: onOriginOnly.manifest, blobs: store.content }, `${origin.host}/mirrored/app:o`, {
      client: plain,
    });
    const client = new RegistryClient({
      credentials: anonymous,
      retry: { attempts: 1 },
      config: parseRegistryConfig(`[registry."${origin.host}"]\nmirrors = ["${mirrorProxy.host}"]\n`),
    });
    const dst = tempStore();
    try {
      const m = await pullImage(`${origin.host}/mirrored/app:m`, {
        client,
        content: dst.content,
        images: dst.images,
      });
      assert.equal(m.descriptor.digest, onMirror.manifest.digest);
      assert.ok(
        mirrorProxy.seen.some((s) => s.url.includes(onMirror.layers[0].digest)),
        'layer came from the mirror',
      );
      const o = await pullImage(`${origin.host}/mirrored/app:o`, {
        client,
        content: dst.content,
        images: dst.images,
      });
      assert.equal(o.descriptor.digest, onOriginOnly.manifest.digest);
      assert.ok(
        mirrorProxy.seen.some((s) => s.url.endsWith('/mirrored/app/manifests/o')),
        'the mirror was asked first',
      );
    } finally {
      dst.cleanup();
    }
  });
});
