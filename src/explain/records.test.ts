import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExplainStore, MAX_BUILDS, openHistory, type StepRecord } from './records.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-explain-records-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rec = (key: string, at: number): StepRecord => ({
  name: 'RUN x',
  key,
  op: 'o',
  inputs: [],
  build: `b-${key}`,
  at,
});

describe('history.db', () => {
  it('keeps one copy of a record found by each of its ids, and which build made each key', () => {
    const db = new ExplainStore(join(dir, 'a.db'));
    db.putSteps([{ ids: ['in:1', 'pos:1', 'op:1'], record: rec('k1', 1) }]);
    for (const id of ['in:1', 'pos:1', 'op:1']) assert.equal(db.step(id)?.key, 'k1');
    db.putSteps([{ ids: ['pos:1'], record: rec('k2', 2) }]);
    assert.equal(db.step('pos:1')?.key, 'k2');
    assert.equal(db.step('in:1')?.key, 'k1');
    assert.deepEqual({ ...db.origin('k2') }, { build: 'b-k2', at: 2 });
    db.close();
  });

  it(`keeps the last ${MAX_BUILDS} builds, newest first, found by a unique id prefix`, () => {
    const db = new ExplainStore(join(dir, 'b.db'));
    for (let i = 0; i < MAX_BUILDS + 5; i++) db.putBuild(`id${String(i).padStart(3, '0')}`, i, { n: i });
    const all = db.builds<{ n: number }>();
    assert.equal(all.length, MAX_BUILDS);
    assert.equal(all[0].n, MAX_BUILDS + 4);
    assert.deepEqual(db.build('id054'), { n: 54 });
    assert.equal(db.build('id0'), undefined, 'a prefix naming several finds none');
    assert.equal(db.build('id000'), undefined, 'the oldest went');
    assert.equal(db.build('%'), undefined, 'LIKE wildcards are literal');
    db.close();
  });

  it('a file that is not a database is set aside and history starts anew', () => {
    const file = join(dir, 'c.db');
    writeFileSync(file, Buffer.alloc(8192, 'x'));
    const db = openHistory(file);
    assert.deepEqual(db.builds(), []);
    db.close();
    assert.ok(existsSync(`${file}.broken`));
  });
});
