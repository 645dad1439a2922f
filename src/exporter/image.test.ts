import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerRecord } from '../cache/build-cache.ts';
import { alignHistory, layerTypeFor } from './image.ts';

const layer = (): LayerRecord => ({
  digest: 'sha256:aa',
  diffID: 'sha256:bb',
  size: 1,
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
});

describe('image assembly', () => {
  it('a RUN that changed nothing keeps its layer and its history entry, as docker build does', () => {
    const history = [
      { created_by: 'base' },
      { created_by: 'ENV A=1', empty_layer: true },
      { created_by: 'RUN true' },
      { created_by: 'COPY x /' },
    ];
    const out = alignHistory(history, [layer(), layer(), layer()], '2020-01-01T00:00:00Z');
    assert.deepEqual(
      out.map((h) => Boolean(h.empty_layer)),
      [false, true, false, false],
    );
  });

  it('dates new history entries by their layers, and metadata-only entries by the step before', () => {
    const history = [
      { created_by: 'base', created: '2019-01-01T00:00:00Z' },
      { created_by: 'RUN a' },
      { created_by: 'ENV B=1', empty_layer: true },
    ];
    const out = alignHistory(
      history,
      [layer(), { ...layer(), created: '2024-05-05T10:00:00.123Z' }],
      '2030-01-01T00:00:00Z',
    );
    assert.deepEqual(
      out.map((h) => h.created),
      ['2019-01-01T00:00:00Z', '2024-05-05T10:00:00Z', '2024-05-05T10:00:00Z'],
    );
  });

  it('maps gzip layers to Docker or OCI media types and keeps zstd as OCI', () => {
    assert.equal(layerTypeFor(layer(), false), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.equal(layerTypeFor(layer(), true), 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(
      layerTypeFor({ ...layer(), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, false),
      'application/vnd.oci.image.layer.v1.tar+zstd',
    );
  });
});
