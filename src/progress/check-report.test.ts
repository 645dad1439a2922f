/** The `--check` report: buildx's count line, BuildKit's order and its source excerpts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkReport, printSource } from './check-report.ts';

const DF = 'FROM a\nRUN 1\nRUN 2\nRUN 3\nRUN 4\nRUN 5\nRUN 6\n';

describe('check report', () => {
  it('one line gets two lines of context each side, a range one, clipped at the file', () => {
    assert.equal(
      printSource('Dockerfile', DF, 4, 4),
      'Dockerfile:4\n--------------------\n   2 |     RUN 1\n   3 |     RUN 2\n   4 | >>> RUN 3\n   5 |     RUN 4\n   6 |     RUN 5\n--------------------\n',
    );
    assert.equal(
      printSource('Dockerfile', DF, 3, 4),
      'Dockerfile:3\n--------------------\n   2 |     RUN 1\n   3 | >>> RUN 2\n   4 | >>> RUN 3\n   5 |     RUN 4\n--------------------\n',
    );
    // At the top, Go's loop still counts each round twice: two lines below, none above.
    assert.equal(
      printSource('Dockerfile', DF, 1, 1),
      'Dockerfile:1\n--------------------\n   1 | >>> FROM a\n   2 |     RUN 1\n   3 |     RUN 2\n--------------------\n',
    );
  });

  it('counts findings as buildx does and sorts them by line', () => {
    const r = checkReport(
      [
        { rule: 'B', message: 'second', location: { file: 'x', startLine: 3, endLine: 3 } },
        { rule: 'A', message: 'first', url: 'https://u/', location: { file: 'x', startLine: 2, endLine: 2 } },
      ],
      { filename: 'Dockerfile', data: DF },
    );
    assert.match(
      r,
      /^Check complete, 2 warnings have been found!\n\nWARNING: A - https:\/\/u\/\nfirst\nDockerfile:2\n/,
    );
    assert.ok(r.indexOf('WARNING: B\nsecond\n') > r.indexOf('WARNING: A'));
    assert.equal(checkReport([], { filename: 'D', data: '' }), 'Check complete, no warnings found.\n');
    assert.match(
      checkReport([{ rule: 'A', message: 'm' }], { filename: 'D', data: '' }),
      /^Check complete, 1 warning has been found!\n\nWARNING: A\nm\n$/,
    );
  });
});
