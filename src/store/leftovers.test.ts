import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeOwnedDir } from '../sys/owner.ts';
import { sweepLeftovers } from './leftovers.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-leftovers-'));
});
after(() => rm(root, { recursive: true, force: true }));

describe('leftovers of dead processes', () => {
  it("removes a dead owner's scratch, keeps a live owner's and names it did not make", async () => {
    const mine = await makeOwnedDir(root, 'bind');
    await writeFile(join(mine, 'copy'), 'live');
    // No process can have a pid above the kernel's maximum (2^22): the owner of this name is gone.
    const dead = join(root, 'run', 'secrets-4194305-1-0123456789abcdef');
    await mkdir(join(dead, 'sub'), { recursive: true });
    await writeFile(join(dead, 'sub', 'file'), 'plaintext');
    await mkdir(join(root, 'run', 'not-ours'));
    const r = await sweepLeftovers(root);
    assert.deepEqual(r.removed, [dead]);
    assert.deepEqual(r.active, [mine]);
    assert.deepEqual((await readdir(join(root, 'run'))).sort(), [mine.split('/').pop(), 'not-ours'].sort());
  });

  it('a root with nothing left over costs two readdirs (measured)', async (t) => {
    const empty = await mkdtemp(join(tmpdir(), 'kiln-leftovers-empty-'));
    try {
      await mkdir(join(empty, 'run'));
      await mkdir(join(empty, 'bundles'));
      const n = 2000;
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await sweepLeftovers(empty);
      const us = Number(process.hrtime.bigint() - start) / 1000 / n;
      t.diagnostic(`sweepLeftovers with nothing to clean: ${us.toFixed(1)} µs`);
      assert.ok(us < 1000, `${us} µs per sweep`);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
