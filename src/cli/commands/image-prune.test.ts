import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePruneFilters, parseUntil } from './image-prune.ts';

describe('image prune --filter', () => {
  it('until= takes Go durations before now, Unix times and RFC 3339 dates', () => {
    const now = Date.UTC(2024, 0, 2);
    assert.equal(parseUntil('24h', now), now - 86_400_000);
    assert.equal(parseUntil('1h30m', now), now - 5_400_000);
    assert.equal(parseUntil('90s', now), now - 90_000);
    // Go's two spellings of the micro sign: U+00B5 and U+03BC.
    assert.equal(parseUntil('1s5000\u00b5s', now), now - 1_005);
    assert.equal(parseUntil('1s5000\u03bcs', now), now - 1_005);
    assert.equal(parseUntil('1704067200', now), Date.UTC(2024, 0, 1));
    assert.equal(parseUntil('2024-01-01T00:00:00Z', now), Date.UTC(2024, 0, 1));
    assert.throws(() => parseUntil('soon', now), { code: 'INVALID_FILTER' });
  });

  it('label= and label!= are kept apart; other keys are refused', () => {
    const f = parsePruneFilters(['label=a', 'label!=b=c']);
    assert.deepEqual(f.labels, ['a']);
    assert.deepEqual(f.notLabels, ['b=c']);
    assert.throws(() => parsePruneFilters(['dangling=true']), { code: 'INVALID_FILTER' });
  });
});
