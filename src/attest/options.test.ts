import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAttestFlags } from './options.ts';

describe('parseAttestFlags', () => {
  it('reads buildx spellings', () => {
    assert.equal(parseAttestFlags({}), undefined);
    assert.deepEqual(parseAttestFlags({ sbom: true }), { sbom: {} });
    assert.deepEqual(parseAttestFlags({ sbom: 'generator=docker/buildkit-syft-scanner' }), {
      sbom: { generator: 'docker/buildkit-syft-scanner' },
    });
    assert.deepEqual(parseAttestFlags({ provenance: 'mode=max' }), { provenance: { mode: 'max' } });
    assert.deepEqual(parseAttestFlags({ provenance: 'max' }), { provenance: { mode: 'max' } });
    assert.deepEqual(parseAttestFlags({ provenance: 'true' }), { provenance: { mode: 'min' } });
    assert.equal(parseAttestFlags({ provenance: 'false' }), undefined);
    assert.deepEqual(
      parseAttestFlags({ attest: ['type=sbom', 'type=provenance,mode=max,builder-id=https://ci/1'] }),
      {
        sbom: {},
        provenance: { mode: 'max', builderId: 'https://ci/1' },
      },
    );
    // A later flag of a type wins; disabled=true turns it off.
    assert.deepEqual(parseAttestFlags({ attest: ['type=sbom'], sbom: 'false', provenance: true }), {
      provenance: { mode: 'min' },
    });
    assert.equal(parseAttestFlags({ attest: ['type=provenance,disabled=true'] }), undefined);
  });

  it('refuses what it does not know', () => {
    assert.throws(() => parseAttestFlags({ attest: ['type=vex'] }), /unknown attestation type "vex"/);
    assert.throws(() => parseAttestFlags({ attest: ['mode=max'] }), /has no type/);
    assert.throws(() => parseAttestFlags({ provenance: 'mode=full' }), /invalid --provenance mode "full"/);
    assert.throws(
      () => parseAttestFlags({ sbom: 'scan-context=true' }),
      /unknown --sbom field "scan-context"/,
    );
  });
});
