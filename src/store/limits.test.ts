/** Root limits: defaults, the [limits] table of kiln.toml, and the per-layer cap they give. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_LIMITS, layerLimit, loadLimits } from './limits.ts';

describe('root limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-limits-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (text: string) => writeFileSync(join(dir, 'kiln.toml'), text);

  it('a root without kiln.toml has the defaults: 100x the compressed size, at least 1 GiB', async () => {
    assert.deepEqual(await loadLimits(join(dir, 'none')), DEFAULT_LIMITS);
    assert.equal(layerLimit(DEFAULT_LIMITS, 1000), 1 << 30);
    assert.equal(layerLimit(DEFAULT_LIMITS, 100 << 20), 100 * (100 << 20));
  });

  it('[limits] sets each value; layer-max caps whatever the ratio allows', async () => {
    write('[limits]\nlayer-expansion = 10\nlayer-floor = 1000\nlayer-max = 5000\n');
    const l = await loadLimits(dir);
    assert.deepEqual(l, { layerExpansion: 10, layerFloor: 1000, layerMax: 5000 });
    assert.equal(layerLimit(l, 50), 1000);
    assert.equal(layerLimit(l, 200), 2000);
    assert.equal(layerLimit(l, 10_000), 5000);
  });

  for (const [text, why] of [
    ['[limits]\nlayer-floor = -1\n', /layer-floor must be a whole number/],
    ['[limits]\nlayer-floor = "1GB"\n', /layer-floor must be a whole number/],
    ['[limits]\nlayer-size = 1\n', /unknown setting limits.layer-size/],
    ['limits = 3\n', /"limits" must be a table/],
    ['[limits\n', /kiln.toml/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} with INVALID_ROOT_CONFIG`, async () => {
      write(text);
      await assert.rejects(loadLimits(dir), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_ROOT_CONFIG');
        assert.match(err.message, why);
        return true;
      });
    });
  }
});
