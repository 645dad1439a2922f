import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compactLowerdirs } from './mount.ts';

describe('compactLowerdirs', () => {
  it('makes lowerdirs relative to their common parent and keeps the other options', () => {
    const r = compactLowerdirs([
      'index=off',
      'workdir=/s/snapshots/aa/work',
      'upperdir=/s/snapshots/aa/fs',
      'lowerdir=/s/snapshots/bb/fs:/s/snapshots/cc/fs',
    ]);
    assert.equal(r.cwd, '/s/snapshots');
    assert.equal(
      r.options,
      'index=off,workdir=/s/snapshots/aa/work,upperdir=/s/snapshots/aa/fs,lowerdir=bb/fs:cc/fs',
    );
  });

  it('does not treat a name prefix as a common directory', () => {
    const r = compactLowerdirs(['lowerdir=/data/ab/fs:/data/abc/fs']);
    assert.equal(r.cwd, '/data');
    assert.equal(r.options, 'lowerdir=ab/fs:abc/fs');
  });
});
