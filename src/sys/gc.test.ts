import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const MODULE = join(import.meta.dirname, 'gc.ts');

/** Runs `body` in a child node with the module's exports imported; returns what it logs. */
function probe(flags: string[], body: string): string {
  const script = `import { releaseDeadHeap, YoungCollector } from ${JSON.stringify(MODULE)};\n${body}`;
  const r = spawnSync(
    process.execPath,
    [...flags, '--max-semi-space-size=8', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/**
 * Allocates 96 1 MiB Buffers, each dead at the next and an event-loop turn apart (as a layer's
 * stream leaves them): the most MiB held at once. V8 sweeps freed ArrayBuffers on a background
 * thread, so a busy machine sees them go a little after the collection: the turns give it the
 * time a stream gives it, and the bounds below leave room for it.
 */
function heldMiB(flags: string[], every: number): number {
  return Number(
    probe(
      flags,
      `const c = new YoungCollector(${every});
      let keep;
      let most = 0;
      for (let i = 0; i < 96; i++) {
        await new Promise((r) => setImmediate(r));
        keep = Buffer.allocUnsafe(1 << 20);
        keep[0] = i;
        c.add(keep.length);
        most = Math.max(most, process.memoryUsage().arrayBuffers >> 20);
      }
      console.log(most);`,
    ),
  );
}

test('with --expose-gc, dead Buffers are collected every `every` bytes', () => {
  const held = heldMiB(['--expose-gc'], 8 << 20);
  assert.ok(held <= 40, `${held} MiB of dead Buffers still held`);
});

test('without --expose-gc it does nothing (the dead Buffers stay until V8 collects them)', () => {
  const held = heldMiB([], 16 << 20);
  assert.ok(held >= 56, `${held} MiB held: V8 collected them on its own, so the test above shows nothing`);
});

/** ~300 MiB of small objects (a big COPY's rows), dead once `rows` is dropped. */
const BIG_DEAD_HEAP = `
  let rows = [];
  for (let i = 0; i < 2e6; i++) rows.push({ path: 'src/d' + i, stat: { mode: i, size: i * 2 }, kids: [i] });
  rows = null;
  const mib = () => process.memoryUsage.rss() >> 20;
`;

test('after a step that left a large dead heap, it is collected and its pages go back to the system', () => {
  const [before, collected, after] = probe(
    ['--expose-gc'],
    `${BIG_DEAD_HEAP}
    const before = mib();
    console.log(before, releaseDeadHeap(), mib());`,
  ).split(' ');
  assert.ok(Number(before) >= 256, `${before} MiB before: the probe did not grow the heap`);
  assert.equal(collected, 'true');
  assert.ok(Number(after) < 150, `${after} MiB resident after the collection (was ${before})`);
});

test('a plain major collection frees the heap but leaves its pages resident (what the above fixes)', () => {
  const [before, after] = probe(
    ['--expose-gc'],
    `${BIG_DEAD_HEAP}
    const before = mib();
    gc({ type: 'major' });
    console.log(before, mib());`,
  ).split(' ');
  assert.ok(Number(after) > Number(before) * 0.6, `${after} of ${before} MiB stayed: V8 no longer pools`);
});

test('a small process, or one that has not grown past what the last collection left, is left alone', () => {
  const out = probe(
    ['--expose-gc'],
    `const small = releaseDeadHeap();
    ${BIG_DEAD_HEAP}
    const first = releaseDeadHeap();
    console.log(small, first, releaseDeadHeap());`,
  );
  assert.equal(out, 'false true false');
});

test('without --expose-gc it does nothing', () => {
  assert.equal(probe([], `${BIG_DEAD_HEAP}\nconsole.log(releaseDeadHeap());`), 'false');
});
