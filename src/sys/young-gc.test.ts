import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const MODULE = join(import.meta.dirname, 'young-gc.ts');

/**
 * Allocates 96 1 MiB Buffers, each dead at the next and an event-loop turn apart (as a layer's
 * stream leaves them): the most MiB held at once. V8 sweeps freed ArrayBuffers on a background
 * thread, so a busy machine sees them go a little after the collection: the turns give it the
 * time a stream gives it, and the bounds below leave room for it.
 */
function heldMiB(flags: string[], every: number): number {
  const script = `
    import { YoungCollector } from ${JSON.stringify(MODULE)};
    const c = new YoungCollector(${every});
    let keep;
    let most = 0;
    for (let i = 0; i < 96; i++) {
      await new Promise((r) => setImmediate(r));
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
  const held = heldMiB(['--expose-gc'], 8 << 20);
  assert.ok(held <= 40, `${held} MiB of dead Buffers still held`);
});

test('without --expose-gc it does nothing (the dead Buffers stay until V8 collects them)', () => {
  const held = heldMiB([], 16 << 20);
  assert.ok(held >= 56, `${held} MiB held: V8 collected them on its own, so the test above shows nothing`);
});
