import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerRlimits, specJson } from './rlimits.ts';

describe('container rlimits', () => {
  it('RLIMIT_NOFILE has a default; a --ulimit of a name replaces it, others are added', () => {
    const [nofile] = containerRlimits();
    assert.equal(nofile.type, 'RLIMIT_NOFILE');
    assert.ok(nofile.hard > 0 && nofile.soft === nofile.hard);
    assert.deepEqual(
      containerRlimits([
        { name: 'nofile', soft: 100, hard: 200 },
        { name: 'nproc', soft: 10, hard: 20 },
      ]),
      [
        { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 },
        { type: 'RLIMIT_NPROC', soft: 10, hard: 20 },
      ],
    );
  });

  it('config.json writes unlimited as RLIM_INFINITY (2^64-1), exactly, and only in rlimits', () => {
    const text = specJson({
      process: { rlimits: [{ type: 'RLIMIT_CORE', hard: -1, soft: -1 }] },
      other: { hard: -1 },
    });
    assert.match(text, /"hard": 18446744073709551615,\n\s*"soft": 18446744073709551615/);
    assert.match(text, /"other": \{\n\s*"hard": -1/);
  });
});
