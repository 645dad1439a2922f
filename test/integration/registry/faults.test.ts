import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { anonymous, fastRetry, type MadeImage, makeImage, tempStore } from './helpers.ts';

describe('retries against a faulty proxy in front of a real registry', () => {
  let proxy: FaultProxy;
  let img: MadeImage;
  const src = tempStore();
  const ref = () => `${proxy.host}/kiln-faults/app:1`;
  const bigLayer = () => img.layers[0].digest;

  before(async () => {
    const reg = await sharedRegistry();
    proxy = await startFaultProxy(reg.host);
    img = await makeImage(src, [400 << 10, 2000]);
    await pushImage({ root: img.manifest, blobs: src.content }, ref(), {
      client: new RegistryClient({ credentials: anonymous }),
    });
  });
  beforeEach(() => {
    proxy.rule = () => undefined;
    proxy.seen.length = 0;
  });
  after(async () => {
    await proxy.close();
    src.cleanup();
  });

  async function pullFresh(client: RegistryClient) {
    const dst = tempStore();
    try {
      const r = await pullImage(ref(), { client, content: dst.content, images: dst.images });
      for (const l of img.layers)
        assert.deepEqual(await dst.content.readBlob(l.digest), await src.content.readBlob(l.digest));
      return r;
    } finally {
      dst.cleanup();
    }
  }

  it('a repeated pull into the same store only HEADs the tag and fetches nothing', async () => {
    const client = new RegistryClient({ credentials: anonymous });
    const dst = tempStore();
    try {
      await pullImage(ref(), { client, content: dst.content, images: dst.images });
      proxy.seen.length = 0;
      await pullImage(ref(), { client, content: dst.content, images: dst.images });
      assert.deepEqual(
        proxy.seen.map((s) => s.method),
        ['HEAD'],
      );
    } finally {
      dst.cleanup();
    }
  });

  it('retries 500s on manifests and blobs and succeeds', async () => {
    let gets = 0;
    let layerHits = 0;
    proxy.rule = (req) => {
      if (req.method === 'GET' && gets++ < 2) return { status: 500 };
      if (req.url?.includes(bigLayer()) && layerHits++ < 2) return { status: 503 };
      return undefined;
    };
    const r = await pullFresh(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    assert.equal(r.descriptor.digest, img.manifest.digest);
    assert.equal(proxy.seen.filter((s) => s.fault).length, 4);
  });

  it('waits as long as Retry-After says on 429', async () => {
    let limited = false;
    proxy.rule = (req) => {
      if (!limited && req.url?.includes('/blobs/')) {
        limited = true;
        return { status: 429, headers: { 'retry-after': '1' } };
      }
      return undefined;
    };
    const t0 = Date.now();
    await pullFresh(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    assert.ok(Date.now() - t0 >= 1000, 'waited for Retry-After');
    assert.ok(limited);
  });

  it('resumes a blob download dropped mid-way with a Range request', async () => {
    let dropped = false;
    proxy.rule = (req) => {
      if (!dropped && req.method === 'GET' && req.url?.includes(bigLayer())) {
        dropped = true;
        return { dropAfter: 100_000 };
      }
      return undefined;
    };
    await pullFresh(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    const gets = proxy.seen.filter((s) => s.url.includes(bigLayer()) && s.method === 'GET');
    assert.equal(gets.length, 2);
    assert.match(gets[1].range ?? '', /^bytes=\d+-$/);
  });

  it('gives up after its retry budget with a clear error and leaves no partial blob', async () => {
    proxy.rule = (req) => (req.url?.includes(bigLayer()) ? { status: 500 } : undefined);
    const dst = tempStore();
    try {
      await assert.rejects(
        pullImage(ref(), {
          client: new RegistryClient({ credentials: anonymous, retry: fastRetry }),
          content: dst.content,
          images: dst.images,
        }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'REGISTRY_ERROR');
          assert.match(
            err.message,
            new RegExp(
              `registry ${proxy.host}, repository kiln-faults/app: gave up after 4 attempts: HTTP 500`,
            ),
          );
          return true;
        },
      );
      assert.equal(await dst.content.info(bigLayer()), undefined);
      assert.deepEqual(readdirSync(join(dst.root, 'ingest')), [], 'no temp files left behind');
    } finally {
      dst.cleanup();
    }
  });

  it('fails after repeated drops mid-blob, naming the blob, with nothing stored', async () => {
    proxy.rule = (req) =>
      req.method === 'GET' && req.url?.includes(bigLayer()) ? { dropAfter: 50_000 } : undefined;
    const dst = tempStore();
    try {
      await assert.rejects(
        pullImage(ref(), {
          client: new RegistryClient({ credentials: anonymous, retry: fastRetry }),
          content: dst.content,
          images: dst.images,
        }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'REGISTRY_UNREACHABLE');
          assert.match(err.message, new RegExp(`downloading blob ${bigLayer()}.*interrupted 4 times`));
          return true;
        },
      );
      assert.equal(await dst.content.info(bigLayer()), undefined);
      assert.deepEqual(readdirSync(join(dst.root, 'ingest')), []);
      assert.equal(await dst.images.get(`${proxy.host}/kiln-faults/app:1`), undefined);
    } finally {
      dst.cleanup();
    }
  });

  it('recovers when a chunk upload is cut off mid-request, resending only what the registry lacks', async () => {
    const other = await makeImage(src, [300 << 10]);
    let patches = 0;
    proxy.rule = (req) =>
      req.method === 'PATCH' && patches++ === 1 ? { cutRequestAfter: 10_000 } : undefined;
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry, chunkSize: 64 << 10 });
    const res = await pushImage(
      { root: other.manifest, blobs: src.content },
      `${proxy.host}/kiln-faults/cut:1`,
      { client },
    );
    assert.equal(res.descriptor.digest, other.manifest.digest);
    const dst = tempStore();
    try {
      await pullImage(`${proxy.host}/kiln-faults/cut:1`, {
        client,
        content: dst.content,
        images: dst.images,
      });
      assert.deepEqual(
        await dst.content.readBlob(other.layers[0].digest),
        await src.content.readBlob(other.layers[0].digest),
      );
    } finally {
      dst.cleanup();
    }
  });

  it('retries failed upload requests during a chunked push', async () => {
    const other = await makeImage(src, [300 << 10]);
    let patches = 0;
    proxy.rule = (req) =>
      req.method === 'PATCH' && patches++ === 1
        ? { status: 502 }
        : req.method === 'PUT' && req.url?.includes('manifests') && patches < 100 && (patches = 100)
          ? { status: 500 }
          : undefined;
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry, chunkSize: 64 << 10 });
    const res = await pushImage(
      { root: other.manifest, blobs: src.content },
      `${proxy.host}/kiln-faults/pushed:1`,
      { client },
    );
    assert.equal(res.descriptor.digest, other.manifest.digest);
    assert.ok(proxy.seen.some((s) => s.method === 'PATCH' && s.fault));
    assert.ok(proxy.seen.some((s) => s.method === 'PUT' && s.fault));
    const m = await client.getManifest(proxy.host, 'kiln-faults/pushed', '1');
    assert.equal(m.descriptor.digest, other.manifest.digest);
  });
});
