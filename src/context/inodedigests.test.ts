import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { InodeDigests, RACY_US } from './inodedigests.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-inodes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;

describe('digests kept by inode', () => {
  const old = Date.now() * 1000 - 10 * RACY_US;
  const born = old - 1000;
  const id = { ino: 7, btimeUs: born, mtimeUs: old - 500, ctimeUs: old, size: 5 };

  it('answer only for the same birth time, mtime and size, across openings, one row an inode', () => {
    const file = join(dir, 'a.db');
    const a = InodeDigests.open(file);
    a.put(id, D1);
    a.close();
    const b = InodeDigests.open(file);
    assert.equal(b.get(id), D1);
    // A link (or chmod, chown) sets the ctime only: still the file that was hashed.
    assert.equal(b.get({ ...id, ctimeUs: old + 10 }), D1);
    assert.equal(b.get({ ...id, mtimeUs: id.mtimeUs + 1 }), undefined, 'written');
    assert.equal(b.get({ ...id, size: 6 }), undefined, 'written');
    assert.equal(b.get({ ...id, btimeUs: born + 1 }), undefined, 'another file with this number');
    assert.equal(b.get({ ...id, ino: 8 }), undefined);
    // The number taken by another file: its row replaces the old one.
    b.put({ ...id, btimeUs: born + 5, ctimeUs: old + 5 }, D2);
    b.flush();
    assert.equal(b.get(id), undefined);
    assert.equal(b.get({ ...id, btimeUs: born + 5 }), D2);
    b.close();
  });

  it('answer by ctime and size where the filesystem keeps no birth time', () => {
    const c = InodeDigests.open(join(dir, 'c.db'));
    const none = { ...id, btimeUs: 0 };
    c.put(none, D1);
    c.flush();
    assert.equal(c.get(none), D1);
    assert.equal(c.get({ ...none, ctimeUs: old + 1 }), undefined);
    assert.equal(c.get({ ...none, size: 6 }), undefined);
    c.close();
  });

  it('keep nothing for a file changed within the racy window', () => {
    const c = InodeDigests.open(join(dir, 'b.db'));
    const now = Date.now() * 1000;
    const fresh = { ino: 9, btimeUs: old, mtimeUs: old, ctimeUs: now, size: 1 };
    c.put(fresh, D1);
    c.flush();
    assert.equal(c.get(fresh), undefined);
    c.close();
  });

  it('forget the rows of the ctime-keyed table it replaces', () => {
    const file = join(dir, 'd.db');
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE inode_digests (ino INTEGER PRIMARY KEY, ctime_us INTEGER NOT NULL,
      size INTEGER NOT NULL, digest TEXT NOT NULL);
      INSERT INTO inode_digests VALUES (7, ${old}, 5, '${D1}')`);
    db.close();
    const d = InodeDigests.open(file);
    assert.equal(d.get(id), undefined);
    d.close();
    const after = new DatabaseSync(file);
    const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    after.close();
    assert.deepEqual(
      tables.map((t) => t.name),
      ['inode_stamps'],
    );
  });
});
