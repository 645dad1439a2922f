import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { BlobInfo, BlobProvider } from '../content/content.ts';
import { type Digest, sha256 } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Platform } from '../oci/platform.ts';
import { copyImage } from './copy.ts';
import type { ImageSink } from './image.ts';
import { loadConfig, loadIndex, loadManifest, resolvePlatformManifest } from './load.ts';

class MemBlobs implements BlobProvider {
  readonly blobs = new Map<Digest, Buffer>();
  reads: Digest[] = [];
  add(mediaType: string, data: Buffer | string, extra: Partial<Descriptor> = {}): Descriptor {
    const buf = Buffer.from(data);
    this.blobs.set(sha256(buf), buf);
    return { mediaType, digest: sha256(buf), size: buf.length, ...extra };
  }
  async info(d: Digest): Promise<BlobInfo | undefined> {
    const b = this.blobs.get(d);
    return b ? { digest: d, size: b.length } : undefined;
  }
  async openRead(d: Digest): Promise<Readable> {
    this.reads.push(d);
    const b = this.blobs.get(d);
    if (!b) throw Object.assign(new Error('nope'), { code: 'BLOB_NOT_FOUND' });
    return Readable.from([b]);
  }
  async readBlob(d: Digest): Promise<Buffer> {
    const b = this.blobs.get(d);
    if (!b) throw Object.assign(new Error('nope'), { code: 'BLOB_NOT_FOUND' });
    return b;
  }
}

class MemSink implements ImageSink {
  readonly blobs = new Map<Digest, Buffer>();
  order: string[] = [];
  tags = new Map<string, Descriptor>();
  async hasBlob(d: Descriptor) {
    return this.blobs.has(d.digest);
  }
  async putBlob(d: Descriptor, data: Readable) {
    const parts: Buffer[] = [];
    for await (const c of data) parts.push(c);
    this.blobs.set(d.digest, Buffer.concat(parts));
    this.order.push(`blob ${d.digest}`);
  }
  async putManifest(d: Descriptor, bytes: Buffer, tag?: string) {
    this.blobs.set(d.digest, bytes);
    this.order.push(`manifest ${d.digest}`);
    if (tag) this.tags.set(tag, d);
  }
}

function image(src: MemBlobs, arch: string, layerText: string) {
  const layer = src.add(MediaType.OciLayer, layerText);
  const config = src.add(
    MediaType.OciConfig,
    JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
  );
  const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config, layers: [layer] };
  const platform: Platform = { os: 'linux', architecture: arch };
  return { layer, config, desc: src.add(MediaType.OciManifest, encodeManifest(manifest), { platform }) };
}

function twoPlatforms() {
  const src = new MemBlobs();
  const amd = image(src, 'amd64', 'amd64 layer');
  const arm = image(src, 'arm64', 'arm64 layer');
  const index = { schemaVersion: 2 as const, mediaType: MediaType.OciIndex, manifests: [amd.desc, arm.desc] };
  const root = src.add(MediaType.OciIndex, encodeManifest(index));
  return { src, amd, arm, root };
}

describe('copyImage', () => {
  it('copies an index with blobs before manifests and children before parents', async () => {
    const { src, amd, arm, root } = twoPlatforms();
    const sink = new MemSink();
    const res = await copyImage({ root, blobs: src }, sink, { tag: 'x:latest' });
    assert.equal(res.copied, 7);
    const pos = (d: Descriptor) => sink.order.findIndex((o) => o.endsWith(d.digest));
    for (const img of [amd, arm]) {
      assert.ok(pos(img.layer) < pos(img.desc) && pos(img.config) < pos(img.desc));
      assert.ok(pos(img.desc) < pos(root));
    }
    assert.equal(sink.order.at(-1), `manifest ${root.digest}`);
    assert.deepEqual(sink.tags.get('x:latest'), root);
  });

  it('skips blobs the sink already has', async () => {
    const { src, amd, root } = twoPlatforms();
    const sink = new MemSink();
    sink.blobs.set(amd.layer.digest, src.blobs.get(amd.layer.digest)!);
    const res = await copyImage({ root, blobs: src }, sink);
    assert.equal(res.skipped, 1);
    assert.ok(!src.reads.includes(amd.layer.digest));
  });

  it('a platform filter copies only matching children but keeps the index bytes', async () => {
    const { src, amd, arm, root } = twoPlatforms();
    const sink = new MemSink();
    await copyImage({ root, blobs: src }, sink, { platforms: [{ os: 'linux', architecture: 'aarch64' }] });
    assert.ok(sink.blobs.has(arm.layer.digest) && sink.blobs.has(arm.desc.digest));
    assert.ok(!sink.blobs.has(amd.layer.digest) && !sink.blobs.has(amd.desc.digest));
    assert.ok(sink.blobs.get(root.digest)!.equals(src.blobs.get(root.digest)!));
  });

  it('a layer whose bytes do not match its descriptor fails the copy', async () => {
    const { src, amd, root } = twoPlatforms();
    src.blobs.set(amd.layer.digest, Buffer.from('tampered!!!'));
    await assert.rejects(copyImage({ root, blobs: src }, new MemSink()), (e) =>
      hasCode(e, 'DIGEST_MISMATCH'),
    );
  });

  it("copies an index's manifests side by side, never more blobs at once than the bound", async () => {
    const { src, amd, arm, root } = twoPlatforms();
    let running = 0;
    let most = 0;
    const started: string[] = [];
    class SlowSink extends MemSink {
      override async putBlob(d: Descriptor, data: Readable) {
        started.push(d.digest);
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 20));
        await super.putBlob(d, data);
        running--;
      }
    }
    const sink = new SlowSink();
    await copyImage({ root, blobs: src }, sink, { concurrency: 3 });
    assert.equal(most, 3, 'three slots, all busy');
    // Side by side: an arm64 blob started before the amd64 image's blobs were done.
    assert.ok(started.slice(0, 3).some((d) => d === arm.layer.digest || d === arm.config.digest));
    assert.ok(started.slice(0, 3).some((d) => d === amd.layer.digest || d === amd.config.digest));
  });

  it('hands a sink that verifies blobs itself the source stream, and every sink a way to read again', async () => {
    const { src, amd, root } = twoPlatforms();
    const good = src.blobs.get(amd.layer.digest)!;
    const reread: Buffer[] = [];
    class VerifyingSink extends MemSink {
      readonly verifiesBlobs = true;
      override async putBlob(d: Descriptor, data: Readable, reopen?: () => Promise<Readable>) {
        await super.putBlob(d, data);
        if (d.digest === amd.layer.digest && reopen) for await (const c of await reopen()) reread.push(c);
      }
    }
    // Tampered bytes reach a verifying sink unchecked (its own check is the only one)...
    src.blobs.set(amd.layer.digest, Buffer.from('tampered!!!'));
    const sink = new VerifyingSink();
    await copyImage({ root, blobs: src }, sink);
    assert.equal(sink.blobs.get(amd.layer.digest)?.toString(), 'tampered!!!');
    assert.equal(Buffer.concat(reread).toString(), 'tampered!!!');
    // ...while another sink's second read is checked like its first.
    src.blobs.set(amd.layer.digest, good);
    let again: Readable | undefined;
    class RereadSink extends MemSink {
      override async putBlob(d: Descriptor, data: Readable, reopen?: () => Promise<Readable>) {
        await super.putBlob(d, data);
        if (d.digest === amd.layer.digest && reopen) {
          src.blobs.set(amd.layer.digest, Buffer.from('tampered!!!'));
          again = await reopen();
        }
      }
    }
    await copyImage({ root, blobs: src }, new RereadSink());
    await assert.rejects(
      (async () => {
        for await (const _ of again as Readable);
      })(),
      (e) => hasCode(e, 'SIZE_MISMATCH') || hasCode(e, 'DIGEST_MISMATCH'),
    );
  });

  it('a platform nobody offers is a PLATFORM_NOT_FOUND error', async () => {
    const { src, root } = twoPlatforms();
    await assert.rejects(
      copyImage({ root, blobs: src }, new MemSink(), { platforms: [{ os: 'linux', architecture: 's390x' }] }),
      (e) => hasCode(e, 'PLATFORM_NOT_FOUND'),
    );
  });
});

describe('image readers', () => {
  it('resolvePlatformManifest picks the index entry for a platform and loads its config', async () => {
    const { src, arm, root } = twoPlatforms();
    const { descriptor, manifest } = await resolvePlatformManifest(
      { root, blobs: src },
      { os: 'linux', architecture: 'arm64' },
    );
    assert.equal(descriptor.digest, arm.desc.digest);
    assert.equal((await loadConfig(src, manifest)).architecture, 'arm64');
    assert.equal((await loadIndex(src, root)).manifests.length, 2);
    await assert.rejects(loadManifest(src, root), (e) => hasCode(e, 'NOT_A_MANIFEST'));
    await assert.rejects(
      resolvePlatformManifest({ root, blobs: src }, { os: 'windows', architecture: 'amd64' }),
      (e) => hasCode(e, 'PLATFORM_NOT_FOUND') && /linux\/amd64, linux\/arm64/.test((e as Error).message),
    );
  });
});
