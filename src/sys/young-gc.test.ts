import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const MODULE = join(import.meta.dirname, 'young-gc.ts');

/** Allocates 48 1 MiB Buffers, each dead at the next (as a layer's stream leaves them): the most MiB held at once. */
function heldMiB(flags: string[], every: number): number {
  const script = `
    import { YoungCollector } from ${JSON.stringify(MODULE)};
    const c = new YoungCollector(${every});
    let keep;
    let most = 0;
    for (let i = 0; i < 48; i++) {
      keep = Buffer.allocUnsafe(1 << 20);
      keep[0] = i;
      c.add(keep.length);
      most = Math.max(most, process.memoryUsage().arrayBuffers >> 20);
    }
    console.log(most);
  `;
  const r = spawnSync(
    process.execPath,
    [...flags, '--max-semi-space-size=8', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

test('with --expose-gc, dead Buffers are collected every `every` bytes', () => {
  const held = heldMiB(['--expose-gc'], 16 << 20);
  assert.ok(held <= 24, `${held} MiB of dead Buffers still held`);
});

test('without --expose-gc it does nothing (the dead Buffers stay until V8 collects them)', () => {
  const held = heldMiB([], 16 << 20);
  assert.ok(held >= 40, `${held} MiB held: V8 collected them on its own, so the test above shows nothing`);
});
