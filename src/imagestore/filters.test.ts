import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globToRegExp, parseImageFilters } from './filters.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'no error';
};

describe('images --filter', () => {
  it("reference patterns are Go's path.Match: * and ? stop at /, classes and escapes work", () => {
    const m = (p: string, s: string) => globToRegExp(p).test(s);
    assert.ok(m('busy*', 'busybox'));
    assert.ok(!m('*', 'library/busybox'));
    assert.ok(m('*/*', 'library/busybox'));
    assert.ok(m('app:v?', 'app:v1'));
    assert.ok(m('app:[0-9]*', 'app:12'));
    assert.ok(!m('app:[^0-9]*', 'app:12'));
    assert.ok(m('a.b', 'a.b') && !m('a.b', 'axb'), 'dots are literal');
    assert.ok(m('x\\*', 'x*') && !m('x\\*', 'xy'));
  });

  it('parses keys, repeats and dangling values; rejects what docker rejects', () => {
    const f = parseImageFilters([
      'reference=a',
      'reference=b*',
      'label=k',
      'label=k=v',
      'dangling=true',
      'before=x',
      'since=y',
    ]);
    assert.deepEqual(f, {
      reference: ['a', 'b*'],
      before: ['x'],
      since: ['y'],
      dangling: true,
      label: ['k', 'k=v'],
    });
    assert.equal(parseImageFilters(['dangling=false']).dangling, false);
    assert.equal(
      code(() => parseImageFilters(['color=red'])),
      'INVALID_FILTER',
    );
    assert.equal(
      code(() => parseImageFilters(['dangling=maybe'])),
      'INVALID_FILTER',
    );
    assert.equal(
      code(() => parseImageFilters(['reference'])),
      'INVALID_FILTER',
    );
  });
});
