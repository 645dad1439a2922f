import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRecord } from './record.ts';
import { parseCacheSpec } from './spec.ts';

describe('--cache-to / --cache-from values', () => {
  it('a bare value is a registry reference, as in buildx', () => {
    const s = parseCacheSpec('reg.example/app/cache', 'from');
    assert.equal(s.type, 'registry');
    assert.equal(s.ref, 'reg.example/app/cache');
    assert.equal(s.mode, 'min');
  });

  it('takes the registry keys and kiln cache-mounts', () => {
    const s = parseCacheSpec(
      'type=registry,ref=r/c,mode=max,compression=zstd,oci-mediatypes=false,image-manifest=false,ignore-error=true,cache-mounts=true',
      'to',
    );
    assert.deepEqual(
      [s.mode, s.compression, s.ociMediaTypes, s.imageManifest, s.ignoreError, s.cacheMounts],
      ['max', 'zstd', false, false, true, true],
    );
  });

  it('type=local takes dest= to export and src= to import', () => {
    assert.equal(parseCacheSpec('type=local,dest=/c,tag=v1', 'to').tag, 'v1');
    assert.equal(parseCacheSpec('type=local,src=/c', 'from').dir, '/c');
    assert.throws(() => parseCacheSpec('type=local,src=/c', 'to'), /belongs to --cache-from/);
  });

  it('refuses unknown types, unknown keys, mode=max inline and bad values', () => {
    assert.throws(() => parseCacheSpec('type=gha', 'to'), { code: 'INVALID_CACHE_SPEC' });
    assert.throws(() => parseCacheSpec('type=registry,ref=r,mdoe=max', 'to'), /takes no key "mdoe"/);
    assert.throws(() => parseCacheSpec('type=inline,mode=max', 'to'), /only mode=min/);
    assert.throws(() => parseCacheSpec('type=registry,ref=r,mode=all', 'to'), /mode must be min or max/);
    assert.throws(() => parseCacheSpec('type=registry', 'to'), /needs ref=/);
  });
});

describe('imported cache records', () => {
  const layer = {
    digest: `sha256:${'a'.repeat(64)}`,
    diffID: `sha256:${'b'.repeat(64)}`,
    size: 3,
    mediaType: 'x',
  };
  const key = `sha256:${'c'.repeat(64)}`;

  it('a valid record parses', () => {
    const r = parseRecord(
      { layers: [layer], results: [{ key, layers: [0], created: [null] }], mounts: [{ id: 'm', layer: 0 }] },
      't',
    );
    assert.equal(r.results[0].key, key);
  });

  it('an index past the layers, a bad digest or a bad key is CACHE_RECORD_INVALID', () => {
    for (const bad of [
      { layers: [layer], results: [{ key, layers: [1] }] },
      { layers: [{ ...layer, digest: 'sha256:zz' }], results: [] },
      { layers: [layer], results: [{ key: 'k', layers: [0] }] },
      { layers: [layer], mounts: [{ id: '', layer: 0 }] },
      'not an object',
    ])
      assert.throws(() => parseRecord(bad, 't'), { code: 'CACHE_RECORD_INVALID' });
  });
});
