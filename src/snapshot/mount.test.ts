import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MS } from '../sys/mountserver.ts';
import { compactLowerdirs, mountFlags } from './mount.ts';

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

describe('mountFlags', () => {
  it("turns mount(8)'s generic options into flags and keeps the filesystem's own, in order", () => {
    const r = mountFlags(['index=off', 'nosuid', 'ro', 'lowerdir=/a:/b', 'nodev', 'volatile', 'noexec']);
    assert.equal(r.flags, MS.NOSUID | MS.RDONLY | MS.NODEV | MS.NOEXEC);
    assert.equal(r.data, 'index=off,lowerdir=/a:/b,volatile');
  });

  it('lets a later option undo an earlier one, as mount(8) does', () => {
    assert.equal(mountFlags(['ro', 'rw', 'noexec', 'exec', 'nosuid']).flags, MS.NOSUID);
    assert.deepEqual(mountFlags(['defaults', '']), { flags: 0, data: '' });
  });

  it('does not take an inherited object property for an option', () => {
    assert.deepEqual(mountFlags(['constructor', 'toString']), { flags: 0, data: 'constructor,toString' });
  });
});
