import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HoldFiles, parseHolds } from './holds.ts';

/** Start time of `pid` as /proc gives it (what hold file names carry). */
function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

describe('hold files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-holds-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('what a scope adds is live at once, for any reader, until it drops it or releases the scope', () => {
    const holds = new HoldFiles(join(dir, 'a'));
    const reader = new HoldFiles(join(dir, 'a'));
    assert.deepEqual(reader.live(), new Set(), 'no file before the first hold');
    holds.add('build-1', ['x', 'y']);
    holds.add('build-2', ['y', 'z']);
    assert.deepEqual(reader.live(), new Set(['x', 'y', 'z']));
    holds.drop('build-2', ['y', 'z']);
    assert.deepEqual(reader.live(), new Set(['x', 'y']), 'y is still held by build-1');
    holds.release('build-1');
    assert.deepEqual(reader.live(), new Set());
    assert.deepEqual(readdirSync(join(dir, 'a')).length, 1, "build-2's file stays until it is released");
    holds.release('build-2');
    assert.deepEqual(readdirSync(join(dir, 'a')), []);
  });

  it('ids survive any characters, and a line still being written is not counted', () => {
    assert.deepEqual(parseHolds('+"a b"\n+"c\\nd"\n-"a b"\n+"e"'), new Set(['c\nd']));
  });

  it('the files of a process that is gone are ignored and removed; a live process keeps its holds', async () => {
    const d = join(dir, 'b');
    mkdirSync(d);
    const gone = spawnSync('true').pid as number;
    writeFileSync(join(d, `${gone}-1-old.holds`), '+"stale"\n');
    const sleeper = spawn('sleep', ['30']);
    try {
      const pid = sleeper.pid as number;
      const live = join(d, `${pid}-${startOf(pid)}-other.holds`);
      writeFileSync(live, '+"kept"\n');
      // A pid the kernel gave to another process since: same pid, other start time.
      writeFileSync(join(d, `${pid}-${Number(startOf(pid)) - 1}-reused.holds`), '+"reused"\n');
      appendFileSync(live, '+"also"\n');
      assert.deepEqual(new HoldFiles(d).live(), new Set(['kept', 'also']));
      assert.deepEqual(readdirSync(d), [`${pid}-${startOf(pid)}-other.holds`]);
    } finally {
      sleeper.kill();
    }
  });

  it('refuses a scope that would not make a plain file name', () => {
    assert.throws(() => new HoldFiles(join(dir, 'c')).add('../x', ['y']), { code: 'HOLD_SCOPE_INVALID' });
  });
});
