/**
 * A large blob goes up in one streamed PUT (POST, then PUT with the whole body), and every way
 * that PUT can fail is handled: a cut connection or a 5xx starts over in a new session from a
 * fresh read of the source, a 413 falls back to PATCH chunks, a 400 is not sent again. Through
 * the fault proxy in front of the real registry.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { KilnError } from '../../../src/errors/errors.ts';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { anonymous, fastRetry, type MadeImage, makeImage, tempStore } from './helpers.ts';

describe('a large blob pushed in one streamed PUT', () => {
  let proxy: FaultProxy;
  let img: MadeImage;
  const src = tempStore();
  let n = 0;
  const big = () => img.layers[0];
  const isBigPut = (req: { method?: string; url?: string }) =>
    req.method === 'PUT' && Boolean(req.url?.includes(`digest=${encodeURIComponent(big().digest)}`));
  /** The PUTs that carried (or were meant to carry) the big layer. */
  const bigPuts = () => proxy.seen.filter(isBigPut);

  before(async () => {
    proxy = await startFaultProxy((await sharedRegistry()).host);
    // 3 MiB of random bytes: well above the size that is buffered and sent in one retried PUT.
    img = await makeImage(src, [3 << 20, 1000]);
  });
  beforeEach(() => {
    proxy.rule = () => undefined;
    proxy.seen.length = 0;
  });
  after(async () => {
    await proxy.close();
    src.cleanup();
  });

  async function pushAndCheck(client: RegistryClient): Promise<void> {
    const ref = `${proxy.host}/kiln-streamed/app${n++}:1`;
    const res = await pushImage({ root: img.manifest, blobs: src.content }, ref, { client });
    assert.equal(res.descriptor.digest, img.manifest.digest);
    const dst = tempStore();
    try {
      await pullImage(ref, { client, content: dst.content, images: dst.images });
      assert.deepEqual(await dst.content.readBlob(big().digest), await src.content.readBlob(big().digest));
    } finally {
      dst.cleanup();
    }
  }

  it('goes up as one POST and one PUT, no PATCH', async () => {
    await pushAndCheck(new RegistryClient({ credentials: anonymous }));
    assert.equal(bigPuts().length, 1);
    assert.equal(proxy.seen.filter((s) => s.method === 'PATCH').length, 0);
  });

  it('cut off mid-PUT, starts over in a new session from a fresh read of the source', async () => {
    let cut = false;
    proxy.rule = (req) => {
      if (!cut && isBigPut(req)) {
        cut = true;
        return { cutRequestAfter: 1 << 20 };
      }
      return undefined;
    };
    await pushAndCheck(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    const puts = bigPuts();
    assert.equal(puts.length, 2, 'the PUT was sent again');
    assert.ok(puts[0].fault && !puts[1].fault);
    // A new session each time: the second PUT goes to another upload than the first.
    assert.notEqual(puts[0].url.split('?')[0], puts[1].url.split('?')[0]);
  });

  it('answered 503, starts over and succeeds', async () => {
    let refused = 0;
    proxy.rule = (req) => (isBigPut(req) && refused++ < 2 ? { status: 503 } : undefined);
    await pushAndCheck(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    assert.equal(bigPuts().length, 3);
  });

  it('answered 413 (body too large), goes up in PATCH chunks instead', async () => {
    proxy.rule = (req) =>
      isBigPut(req) && Number(req.headers['content-length']) > 0 ? { status: 413 } : undefined;
    await pushAndCheck(new RegistryClient({ credentials: anonymous, retry: fastRetry }));
    const patches = proxy.seen.filter((s) => s.method === 'PATCH');
    assert.ok(patches.length >= 1, 'sent in chunks');
  });

  it('answered 400, fails at once with the registry error and is not sent again', async () => {
    proxy.rule = (req) => (isBigPut(req) ? { status: 400 } : undefined);
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry });
    await assert.rejects(
      pushImage({ root: img.manifest, blobs: src.content }, `${proxy.host}/kiln-streamed/refused:1`, {
        client,
      }),
      (err: unknown) => {
        assert.ok(err instanceof KilnError, `not a KilnError: ${err}`);
        assert.equal(err.code, 'REGISTRY_ERROR');
        assert.match(err.message, new RegExp(`pushing blob ${big().digest}.*HTTP 400`));
        return true;
      },
    );
    assert.equal(bigPuts().length, 1);
  });

  for (const [name, change] of [
    ['longer', (b: Buffer) => Buffer.concat([b, Buffer.from('GET / HTTP/1.1\r\n\r\n')])],
    ['shorter', (b: Buffer) => b.subarray(0, b.length - 1)],
  ] as const) {
    it(`a source ${name} than its descriptor fails with SIZE_MISMATCH at once (no extra bytes sent, no stall)`, {
      timeout: 20_000,
    }, async () => {
      // Straight to the client, past copyImage's check: the upload holds the length itself. To
      // the registry itself: the proxy would keep a cut-off request open upstream.
      const client = new RegistryClient({ credentials: anonymous, retry: fastRetry, idleTimeoutMs: 15_000 });
      const bytes = change(await src.content.readBlob(big().digest));
      const { Readable } = await import('node:stream');
      const t0 = Date.now();
      await assert.rejects(
        client.uploadBlob(
          (await sharedRegistry()).host,
          'kiln-streamed/length',
          big(),
          Readable.from([bytes]),
          undefined,
          undefined,
          async () => Readable.from([bytes]),
        ),
        (err: unknown) => {
          assert.ok(err instanceof KilnError, `not a KilnError: ${err}`);
          assert.equal(err.code, 'SIZE_MISMATCH');
          return true;
        },
      );
      assert.ok(Date.now() - t0 < 10_000, 'failed at once, not after an idle timeout');
    });
  }

  it('a corrupt source blob fails with DIGEST_MISMATCH, not a retry loop', async () => {
    // The store's bytes are read back through a provider that flips one byte of the big layer.
    const client = new RegistryClient({ credentials: anonymous, retry: fastRetry });
    const { Readable, Transform } = await import('node:stream');
    const flip = (r: InstanceType<typeof Readable>) => {
      let first = true;
      return r.pipe(
        new Transform({
          transform(chunk: Buffer, _e, cb) {
            if (first) {
              first = false;
              const c = Buffer.from(chunk);
              c[0] ^= 0xff;
              cb(null, c);
            } else cb(null, chunk);
          },
        }),
      );
    };
    const blobs = {
      info: (d: Parameters<typeof src.content.info>[0]) => src.content.info(d),
      readBlob: (d: Parameters<typeof src.content.readBlob>[0]) => src.content.readBlob(d),
      openRead: async (d: Parameters<typeof src.content.openRead>[0]) =>
        d === big().digest ? flip(await src.content.openRead(d)) : src.content.openRead(d),
    };
    await assert.rejects(
      pushImage({ root: img.manifest, blobs }, `${proxy.host}/kiln-streamed/corrupt:1`, { client }),
      (err: unknown) => {
        assert.ok(err instanceof KilnError, `not a KilnError: ${err}`);
        assert.match(err.code, /^(DIGEST_MISMATCH|REGISTRY_ERROR)$/);
        return true;
      },
    );
    assert.ok(bigPuts().length <= 1, `sent again: ${JSON.stringify(bigPuts())}`);
  });
});
