import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isoSeconds, isoTime } from './time.ts';

describe('isoTime', () => {
  test('writes what toISOString writes, for times across the years 0000–9999 and beyond', () => {
    const day = 86_400_000;
    const times = [
      0,
      1,
      9,
      10,
      99,
      100,
      999,
      -1,
      -day - 1,
      Date.now(),
      253_402_300_799_999,
      -62_167_219_200_000,
    ];
    // A spread of days and milliseconds, leap days included.
    for (let t = -62_000_000_000_000; t < 253_000_000_000_000; t += 7_777_777_777_777) times.push(t, t + 123);
    for (const t of [...times, 253_402_300_800_000, -62_167_219_200_001, 8.64e15, -8.64e15]) {
      assert.equal(isoTime(t), new Date(t).toISOString(), `t=${t}`);
      assert.equal(isoTime(new Date(t)), new Date(t).toISOString(), `Date(${t})`);
    }
  });

  test('an invalid date throws as toISOString does', () => {
    assert.throws(() => isoTime(Number.NaN), RangeError);
    assert.throws(() => isoTime(new Date('not a date')), RangeError);
  });

  test('isoSeconds drops the milliseconds', () => {
    assert.equal(isoSeconds(1_700_000_000_123), '2023-11-14T22:13:20Z');
    assert.equal(isoSeconds(new Date(0)), '1970-01-01T00:00:00Z');
  });

  test('never asks for the host time zone', () => {
    // ICU's zone detection reads /etc/localtime; toISOString's first call does, isoTime must not.
    const run = (code: string) =>
      spawnSync(
        'strace',
        [
          '-f',
          '-e',
          'trace=readlink,readlinkat,open,openat',
          process.execPath,
          '-e',
          code,
          join(import.meta.dirname, 'time.ts'),
        ],
        { encoding: 'utf8' },
      );
    const probe = run('new Date(0).toISOString()');
    if (probe.error) throw new Error(`strace is needed for this test: ${probe.error.message}`);
    assert.match(probe.stderr, /localtime/, 'the probe itself must see toISOString read the zone');
    // process.argv[1] is this module's path (require of an ES module, as Node 24 does).
    const r = run('const { isoTime } = require(process.argv[1]); isoTime(); isoTime(new Date(5));');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /localtime/);
  });
});
