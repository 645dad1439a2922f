import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareLayerPaths } from './entries.ts';

const sorted = (paths: string[], bytewise = false) =>
  [...paths].sort((a, b) => compareLayerPaths(a, b, bytewise));

describe('layer path order', () => {
  it('puts a directory before its children and its children before names that extend it', () => {
    assert.deepEqual(sorted(['a.c', 'a/b', 'a', 'ab', 'a/b/c']), ['a', 'a/b', 'a/b/c', 'a.c', 'ab']);
  });

  it('puts the opaque marker, then whiteouts, before their siblings, at every depth', () => {
    assert.deepEqual(
      sorted([
        'd/.a',
        'd/.wh.z',
        'd/.wh..wh..opq',
        'd',
        '.wh.d2',
        '.a',
        'd/.wh.b',
        'd/.w',
        'd/e/.wh..wh..opq',
        'd/e',
      ]),
      [
        '.wh.d2',
        '.a',
        'd',
        'd/.wh..wh..opq',
        'd/.wh.b',
        'd/.wh.z',
        'd/.a',
        'd/.w',
        'd/e',
        'd/e/.wh..wh..opq',
      ],
    );
  });

  it('orders names by their bytes when they hold astral characters or escaped bytes', () => {
    // U+FF5E sorts before U+1F600 in UTF-8, after its surrogates in UTF-16.
    const names = ['d/\u{1F600}', 'd/\uFF5E', 'd/.wh.\u{1F600}', 'd/\uDCFF'];
    assert.deepEqual(sorted(names, true), ['d/.wh.\u{1F600}', 'd/\uFF5E', 'd/\u{1F600}', 'd/\uDCFF']);
  });
});
