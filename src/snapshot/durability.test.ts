/**
 * The sync marks (durability.ts): a mark is made before kiln returns and only touched by the
 * detached sync, so nothing appears in the root after kiln has returned.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootId, monotonicMs, pruneMarks, readMarks, startSync } from './durability.ts';

const EARLIER = '0e0e0e0e-1111-4222-8333-444455556666';

async function ended(child: ChildProcess | undefined): Promise<void> {
  assert.ok(child, 'a sync was started');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  assert.equal(child.exitCode, 0, 'the sync and its touch succeeded');
}

/**
 * startSync with its sync held until `open()`: a `sync` first on PATH that waits for a gate file,
 * then runs the real one. An idle disk's sync can end before a test has read the pending mark.
 */
async function gatedSync(tmp: string, name: string) {
  const bin = path.join(tmp, `bin-${name}`);
  const gate = path.join(tmp, `gate-${name}`);
  await fs.mkdir(bin);
  await fs.writeFile(
    path.join(bin, 'sync'),
    // At most ~10 s: a failed assertion before the gate leaves no process behind for long.
    `#!/bin/sh\ni=0\nwhile [ ! -e '${gate}' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done\nexec /bin/sync "$@"\n`,
    { mode: 0o755 },
  );
  return {
    start: async (...args: Parameters<typeof startSync>) => {
      const savedPath = process.env.PATH;
      process.env.PATH = `${bin}:${savedPath}`;
      try {
        return await startSync(...args);
      } finally {
        process.env.PATH = savedPath;
      }
    },
    open: () => fs.writeFile(gate, ''),
  };
}

describe('sync marks', { skip: bootId() === '' && 'no boot id: kiln makes no marks' }, () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-marks-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a mark is there, pending, when startSync returns, and counts once its sync has finished', async () => {
    const dir = path.join(tmp, 'one');
    const sync = await gatedSync(tmp, 'one');
    const child = await sync.start(tmp, dir);
    const pending = await readMarks(dir);
    assert.equal(pending.all.length, 1);
    const [mark] = pending.all;
    assert.equal(mark.boot, bootId());
    assert.equal(pending.latest.size, 0, 'a pending mark covers nothing');
    await sync.open();
    await ended(child);
    const done = await readMarks(dir);
    assert.equal(done.all[0]?.done, true);
    assert.equal(done.latest.get(bootId()), mark.at);
  });

  it('a mark removed while its sync runs is not made again (a root removed right after a build)', async () => {
    const dir = path.join(tmp, 'two');
    const child = await startSync(tmp, dir);
    // What `rm -rf` does: read the directory, unlink what it read, then remove the directory.
    for (const name of await fs.readdir(dir)) await fs.unlink(path.join(dir, name));
    await ended(child);
    assert.deepEqual(await fs.readdir(dir), [], 'nothing appeared after the removal');
    await fs.rmdir(dir);
  });

  it("a name another build's mark holds is never taken: the mark goes a millisecond earlier", async () => {
    const dir = path.join(tmp, 'four');
    await fs.mkdir(dir);
    // Finished marks of the two milliseconds before now, as other builds would have left.
    const t = monotonicMs() - 10;
    const taken = [`${bootId()}@${t}`, `${bootId()}@${t - 1}`];
    for (const name of taken) await fs.writeFile(path.join(dir, name), '');
    const before = new Map(
      await Promise.all(taken.map(async (n) => [n, (await fs.lstat(path.join(dir, n))).mtimeMs] as const)),
    );
    const sync = await gatedSync(tmp, 'four');
    const child = await sync.start(tmp, dir, t);
    const mine = (await readMarks(dir)).all.find((m) => !taken.includes(m.name));
    assert.ok(mine && !mine.done && mine.at === t - 2, `a pending mark at ${t - 2}: ${mine?.name}`);
    await sync.open();
    await ended(child);
    for (const n of taken) {
      assert.equal((await fs.lstat(path.join(dir, n))).mtimeMs, before.get(n), `${n} left as it was`);
    }
    assert.equal((await readMarks(dir)).all.find((m) => m.name === mine.name)?.done, true);
  });

  it("pruning keeps each boot's latest finished mark and this boot's pending ones after it", async () => {
    const dir = path.join(tmp, 'three');
    await fs.mkdir(dir);
    const now = bootId();
    const make = async (name: string, done: boolean) => {
      const file = path.join(dir, name);
      await fs.writeFile(file, '');
      if (!done) await fs.utimes(file, 0, 0);
    };
    await make(`${EARLIER}@100`, true);
    await make(`${EARLIER}@200`, true);
    await make(`${EARLIER}@300`, false); // its boot ended before its sync did
    await make(`${now}@100`, true);
    await make(`${now}@50`, false); // older than a finished one: says less
    await make(`${now}@150`, false); // may still be running
    await fs.mkdir(path.join(dir, `${now}@999`)); // not a mark kiln makes
    const marks = await readMarks(dir);
    assert.equal(marks.latest.get(EARLIER), 200);
    assert.equal(marks.latest.get(now), 100);
    await pruneMarks(marks, new Set([EARLIER]));
    assert.deepEqual(
      (await fs.readdir(dir)).sort(),
      [`${EARLIER}@200`, `${now}@100`, `${now}@150`, `${now}@999`].sort(),
    );
    // A boot no snapshot names any more: its marks go.
    await pruneMarks(await readMarks(dir), new Set());
    assert.deepEqual((await fs.readdir(dir)).sort(), [`${now}@100`, `${now}@150`, `${now}@999`].sort());
  });
});
