/** What an image may make kiln read into memory: manifest layer and index entry counts, config size. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlobProvider } from '../content/content.ts';
import { sha256 } from '../digest/digest.ts';
import { MAX_INDEX_ENTRIES, MAX_LAYERS, parseManifestDocument } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { loadConfig, loadManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './load.ts';

const layer = { mediaType: MediaType.OciLayerGzip, digest: sha256('l'), size: 1 };

/** A provider that must never be asked: a read would mean the size check came too late. */
const untouchable: BlobProvider = {
  info: async () => undefined,
  readBlob: async () => assert.fail('read a blob its descriptor said was too large'),
  openRead: async () => assert.fail('opened a blob its descriptor said was too large'),
};

describe('image bounds', () => {
  it(`a manifest listing more than ${MAX_LAYERS} layers is MANIFEST_TOO_LARGE`, () => {
    const doc = (n: number) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: layer,
        layers: Array(n).fill(layer),
      });
    assert.equal(parseManifestDocument(doc(MAX_LAYERS)).kind, 'manifest');
    assert.throws(() => parseManifestDocument(doc(MAX_LAYERS + 1)), {
      code: 'MANIFEST_TOO_LARGE',
      message: `manifest lists ${MAX_LAYERS + 1} layers; kiln accepts at most ${MAX_LAYERS}`,
    });
  });

  it(`an index listing more than ${MAX_INDEX_ENTRIES} entries is MANIFEST_TOO_LARGE`, () => {
    const doc = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: Array(MAX_INDEX_ENTRIES + 1).fill(layer),
    });
    assert.throws(() => parseManifestDocument(doc), { code: 'MANIFEST_TOO_LARGE' });
  });

  it('a config or manifest whose descriptor is too large is refused before it is read', async () => {
    const config = { mediaType: MediaType.OciConfig, digest: sha256('c'), size: MAX_CONFIG_BYTES + 1 };
    await assert.rejects(loadConfig(untouchable, config), { code: 'CONFIG_TOO_LARGE' });
    const manifest = { mediaType: MediaType.OciManifest, digest: sha256('m'), size: MAX_MANIFEST_BYTES + 1 };
    await assert.rejects(loadManifest(untouchable, manifest), { code: 'MANIFEST_TOO_LARGE' });
    await assert.rejects(loadConfig(untouchable, { ...config, size: -1 }), { code: 'CONFIG_TOO_LARGE' });
  });
});
