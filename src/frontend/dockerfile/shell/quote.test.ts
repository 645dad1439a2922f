import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goQuote } from './quote.ts';

// Expected values are Go's strconv.Quote of the same strings.
test('goQuote keeps printable ASCII and escapes the rest as Go does', () => {
  assert.equal(goQuote('tini -- node dist/server.js'), '"tini -- node dist/server.js"');
  assert.equal(goQuote('!~{}[]$^`|<=>+#%&*@'), '"!~{}[]$^`|<=>+#%&*@"');
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('\t\n\r\x07\b\f\v'), '"\\t\\n\\r\\a\\b\\f\\v"');
  assert.equal(goQuote('\x00\x1f\x7f'), '"\\x00\\x1f\\x7f"');
});

test('goQuote judges non-ASCII characters by their Unicode category', () => {
  assert.equal(goQuote('é中😀'), '"é中😀"');
  // No-break space (Zs), zero-width space (Cf), private use (Co): not printable in Go.
  assert.equal(goQuote('\u00a0\u200b\ue000'), '"\\u00a0\\u200b\\ue000"');
  assert.equal(goQuote('\u{10fffd}'), '"\\U0010fffd"');
});
