import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOCKER_TABLE, tabwrite } from './tabwriter.ts';
import { ellipsis, goFormatG, goTimeString, humanDuration, humanSize, rfc3339, truncateId } from './units.ts';

describe('docker units', () => {
  it("sizes as go-units prints them, Go's %g quirks included", () => {
    // Pairs from docker's output (docker images / system df, go-units size_test.go).
    const three: [number, string][] = [
      [0, '0B'],
      [123, '123B'],
      [999, '999B'],
      [1000, '1kB'],
      [1024, '1.02kB'],
      [999999, '1e+03kB'],
      [4261550, '4.26MB'],
      [2129920, '2.13MB'],
      [12345, '12.3kB'],
      [1e12, '1TB'],
    ];
    for (const [n, s] of three) assert.equal(humanSize(n, 3), s, String(n));
    const four: [number, string][] = [
      [4261550, '4.262MB'],
      [999999, '1000kB'],
      [5000000, '5MB'],
      [3.7e9, '3.7GB'],
      [1234567, '1.235MB'],
    ];
    for (const [n, s] of four) assert.equal(humanSize(n), s, String(n));
    assert.equal(goFormatG(0.00001234, 3), '1.23e-05');
    assert.equal(goFormatG(1e21, 4), '1e+21');
  });

  it('durations as go-units HumanDuration (its own test table)', () => {
    const s = 1000;
    const m = 60 * s;
    const h = 60 * m;
    const d = 24 * h;
    const cases: [number, string][] = [
      [450, 'Less than a second'],
      [1 * s, '1 second'],
      [59 * s, '59 seconds'],
      [60 * s, 'About a minute'],
      [35 * m + 40 * s, '35 minutes'],
      [59 * m, '59 minutes'],
      [1 * h + 29 * m, 'About an hour'],
      [1 * h + 31 * m, '2 hours'],
      [3 * h + 31 * m, '4 hours'],
      [24 * h, '24 hours'],
      [2 * d, '2 days'],
      [13 * d + 5 * h, '13 days'],
      [14 * d, '2 weeks'],
      [30 * d, '4 weeks'],
      [60 * d, '2 months'],
      [24 * 30 * d, '24 months'],
      [24 * 30 * d + 14 * d, '2 years'],
      [3 * 365 * d + 60 * d, '3 years'],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, String(ms));
  });

  it("Go's time formats, IDs and ellipsis", () => {
    process.env.TZ = 'UTC';
    assert.equal(goTimeString(1704067200), '2024-01-01 00:00:00 +0000 UTC');
    assert.equal(rfc3339(1704067200), '2024-01-01T00:00:00Z');
    assert.equal(truncateId(`sha256:${'a'.repeat(64)}`), 'aaaaaaaaaaaa');
    assert.equal(truncateId('<missing>'), '<missing>');
    assert.equal(
      ellipsis('RUN /bin/sh -c echo hello world this is a long command', 45),
      'RUN /bin/sh -c echo hello world this is a lo…',
    );
    assert.equal(ellipsis('short', 45), 'short');
  });
});

describe('tabwriter', () => {
  it('aligns columns as docker does, keeping the padding of a row whose last cell is empty', () => {
    // docker history's rows (Docker 28 output for the same cells).
    const text =
      'IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT\n' +
      'aaaaaaaaaaaa\tAbout a minute ago\tRUN x\t1.23MB\tbuildkit.dockerfile.v0\n' +
      '<missing>\t3 minutes ago\tENV A=1\t0B\t\n';
    assert.equal(
      tabwrite(text, DOCKER_TABLE),
      'IMAGE          CREATED              CREATED BY   SIZE      COMMENT\n' +
        'aaaaaaaaaaaa   About a minute ago   RUN x        1.23MB    buildkit.dockerfile.v0\n' +
        '<missing>      3 minutes ago        ENV A=1      0B        \n',
    );
  });

  it('columns are per block of consecutive lines, and tab padding rounds to tab stops', () => {
    assert.equal(
      tabwrite('a\tb\nccc\n\tdddddddddddddd\tx\n', { minwidth: 1, tabwidth: 1, padding: 1, padchar: ' ' }),
      'a b\nccc\n dddddddddddddd x\n',
    );
    // buildx du's summary: tabwriter.NewWriter(w, 1, 8, 1, '\t', 0).
    assert.equal(
      tabwrite('Reclaimable:\t1MB\nTotal:\t2MB\n', { minwidth: 1, tabwidth: 8, padding: 1, padchar: '\t' }),
      'Reclaimable:\t1MB\nTotal:\t\t2MB\n',
    );
  });
});
