import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { LocalContentStore } from '../content/local/local.ts';
import { sha256 } from '../digest/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest, type Index, type Manifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { compressImage } from './convert.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-convert-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const content = new LocalContentStore(dir);

async function put(mediaType: string, data: Buffer | string): Promise<Descriptor> {
  const info = await content.writeBlob(Buffer.from(data));
  return { mediaType, digest: info.digest, size: info.size };
}

async function manifestOf(d: Descriptor): Promise<Manifest> {
  return JSON.parse((await content.readBlob(d.digest)).toString()) as Manifest;
}

/** A two-platform Docker-typed image whose platforms share one uncompressed layer. */
async function uncompressedImage() {
  const shared = await put('application/vnd.docker.image.rootfs.diff.tar', Buffer.alloc(10240, 'a'));
  const own = await put('application/vnd.docker.image.rootfs.diff.tar', Buffer.alloc(10240, 'b'));
  const config = await put(MediaType.DockerConfig, '{"os":"linux"}');
  const children: Descriptor[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    const m: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config,
      layers: architecture === 'amd64' ? [shared, own] : [shared],
    };
    children.push({
      ...(await put(MediaType.DockerManifest, encodeManifest(m))),
      platform: { os: 'linux', architecture },
    });
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: children };
  return { shared, own, config, root: await put(MediaType.DockerManifestList, encodeManifest(index)) };
}

describe('compressImage', () => {
  it('gzips uncompressed layers and rewrites the manifests and index that name them', async () => {
    const img = await uncompressedImage();
    const root = await compressImage(content, img.root);
    assert.notEqual(root.digest, img.root.digest);
    const index = JSON.parse((await content.readBlob(root.digest)).toString()) as Index;
    assert.deepEqual(
      index.manifests.map((m) => m.platform?.architecture),
      ['amd64', 'arm64'],
    );
    const [amd, arm] = await Promise.all(index.manifests.map(manifestOf));
    assert.deepEqual(amd.config, img.config, 'the config, and so the image ID, is unchanged');
    for (const l of [...amd.layers, ...arm.layers]) assert.equal(l.mediaType, MediaType.DockerLayerGzip);
    assert.equal(amd.layers[0].digest, arm.layers[0].digest, 'a shared layer is compressed once, the same');
    const unpacked = zlib.gunzipSync(await content.readBlob(amd.layers[1].digest));
    assert.equal(sha256(unpacked), img.own.digest, 'the gzip blob holds the original tar');
  });

  it('returns the same root when every layer is already compressed', async () => {
    const img = await uncompressedImage();
    const once = await compressImage(content, img.root);
    assert.deepEqual(await compressImage(content, once), once);
  });

  it('keeps OCI media types OCI', async () => {
    const layer = await put(MediaType.OciLayer, Buffer.alloc(4096, 'c'));
    const config = await put(MediaType.OciConfig, '{}');
    const m: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] };
    const root = await compressImage(content, await put(MediaType.OciManifest, encodeManifest(m)), 'zstd');
    assert.equal((await manifestOf(root)).layers[0].mediaType, MediaType.OciLayerZstd);
  });
});
