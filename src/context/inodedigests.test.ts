import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InodeDigests, RACY_US } from './inodedigests.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-inodes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;

describe('digests kept by inode', () => {
  it('answer only for the same ctime and size, across openings, one row an inode', () => {
    const file = join(dir, 'a.db');
    const old = Date.now() * 1000 - 10 * RACY_US;
    const a = InodeDigests.open(file);
    a.put({ ino: 7, ctimeUs: old, size: 5 }, D1);
    a.close();
    const b = InodeDigests.open(file);
    assert.equal(b.get({ ino: 7, ctimeUs: old, size: 5 }), D1);
    assert.equal(b.get({ ino: 7, ctimeUs: old + 1, size: 5 }), undefined);
    assert.equal(b.get({ ino: 7, ctimeUs: old, size: 6 }), undefined);
    assert.equal(b.get({ ino: 8, ctimeUs: old, size: 5 }), undefined);
    // The number taken by another file: its row replaces the old one.
    b.put({ ino: 7, ctimeUs: old + 5, size: 5 }, D2);
    b.flush();
    assert.equal(b.get({ ino: 7, ctimeUs: old, size: 5 }), undefined);
    assert.equal(b.get({ ino: 7, ctimeUs: old + 5, size: 5 }), D2);
    b.close();
  });

  it('keep nothing for a file changed within the racy window', () => {
    const c = InodeDigests.open(join(dir, 'b.db'));
    const now = Date.now() * 1000;
    c.put({ ino: 9, ctimeUs: now, size: 1 }, D1);
    c.flush();
    assert.equal(c.get({ ino: 9, ctimeUs: now, size: 1 }), undefined);
    c.close();
  });
});
