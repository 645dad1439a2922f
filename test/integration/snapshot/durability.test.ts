/**
 * Snapshots kiln commits without a sync (snapshot/durability.ts): a build step's overlay is mounted
 * `volatile` and can still be mounted again by the process that made it; its commit is marked with
 * the boot and a monotonic time; after a restart with no sync after that time the snapshot and the
 * snapshots built on it are dropped at the next open, while a sync mark of that boot keeps them;
 * a build that committed such a snapshot leaves a mark once its detached sync has finished.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../../../src/errors/errors.ts';
import { bootId, readMarks } from '../../../src/snapshot/durability.ts';
import { MetadataStore } from '../../../src/snapshot/metadata.ts';
import { NativeSnapshotter } from '../../../src/snapshot/native/native.ts';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay/overlay.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { passedInEarlierBoot } from '../../../src/testing/reboot.ts';

/** A boot id that is not this one: what a record from before a restart carries. */
const EARLIER = '0e0e0e0e-1111-4222-8333-444455556666';

async function write(sn: Snapshotter, key: string, file: string, content: string): Promise<string> {
  return sn.withMounted(key, async (dir) => {
    await fs.writeFile(path.join(dir, file), content);
    // The mount this process made, as the kernel lists it.
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(` ${dir} `))
      .join('\n');
  });
}

/** Prepare `name` over `parent` as a build step does (volatile), write a file, commit. */
async function step(sn: Snapshotter, name: string, parent: string | undefined): Promise<void> {
  await sn.prepare(`${name}-active`, parent, { volatile: true });
  await write(sn, `${name}-active`, `${name}.txt`, name);
  await sn.commit(name, `${name}-active`);
}

/** Rewrite a committed record as if it had been committed in `boot` at monotonic time `at`. */
async function backdate(root: string, key: string, boot: string, at: number): Promise<void> {
  const meta = new MetadataStore(root);
  const rec = await meta.mustGet(key);
  assert.ok(rec.unsynced, `${key} was committed unsynced`);
  await meta.delete(key);
  await meta.create({ ...rec, unsynced: { boot, at } });
}

async function keys(sn: Snapshotter): Promise<string[]> {
  return (await sn.list()).map((i) => i.key).sort();
}

for (const [driver, open] of [
  ['overlay', (root: string) => OverlaySnapshotter.open(root)],
  ['native', (root: string) => NativeSnapshotter.open(root)],
] as const) {
  describe(`${driver}: snapshots committed without a sync`, () => {
    let tmp: string;
    let root: string;
    before(async () => {
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-durability-'));
      root = path.join(tmp, 'root');
    });
    after(async () => {
      await fs.rm(tmp, { recursive: true, force: true });
    });

    it('a step snapshot can be mounted again by its process and is committed marked with this boot', async () => {
      const sn = await open(root);
      await sn.prepare('base-active');
      await write(sn, 'base-active', 'base.txt', 'base');
      await sn.commit('base', 'base-active');
      await sn.prepare('s0-active', 'base', { volatile: true });
      const first = await write(sn, 's0-active', 'one.txt', '1');
      if (driver === 'overlay') assert.match(first, /volatile/, 'the step overlay is mounted volatile');
      // A second mount of the same upper and work dirs: overlay refuses it unless kiln clears
      // the volatile marker the first one left.
      await write(sn, 's0-active', 'two.txt', '2');
      await sn.commit('s0', 's0-active');
      const rec = await new MetadataStore(root).mustGet('s0');
      assert.equal(rec.unsynced?.boot, bootId());
      assert.ok(typeof rec.unsynced?.at === 'number' && rec.unsynced.at > 0);
      assert.equal(
        (await new MetadataStore(root).mustGet('base')).unsynced,
        undefined,
        'not a step: not marked',
      );
      await sn.release();
      // Reopened in the same boot: trusted, both files there.
      const again = await open(root);
      assert.ok((await keys(again)).includes('s0'));
      await again.view('s0-view', 's0');
      const files = await again.withMounted('s0-view', async (dir) => (await fs.readdir(dir)).sort());
      assert.deepEqual(files, ['base.txt', 'one.txt', 'two.txt']);
      await again.remove('s0-view');
      await again.release();
    });

    it('after a restart, an unsynced snapshot with no sync after it goes with what was built on it; one a sync covers stays', async () => {
      const sn = await open(root);
      await step(sn, 's1', 'base');
      await step(sn, 's2', 's1');
      await step(sn, 's3', 'base');
      await step(sn, 's4', 'base');
      // A working container's writable snapshot on s4, owned by this (live) process; a
      // working container's anchor (committed, not as a step) on s6.
      await sn.prepare('wc', 's4');
      await step(sn, 's6', 'base');
      await sn.prepare('anchor-new', 's6');
      await sn.commit('anchor', 'anchor-new');
      await sn.release();
      const idOf = async (key: string) => (await new MetadataStore(root).mustGet(key)).id;
      const s1dir = path.join(root, 'snapshots', await idOf('s1'));
      const s2dir = path.join(root, 'snapshots', await idOf('s2'));
      await backdate(root, 's1', EARLIER, 5000);
      await backdate(root, 's2', EARLIER, 6000);
      await backdate(root, 's3', EARLIER, 3000);
      await backdate(root, 's4', EARLIER, 7000);
      await backdate(root, 's6', EARLIER, 8000);
      // A sync of that boot that started at 4000 finished; an older one too.
      await fs.mkdir(path.join(root, 'synced'), { recursive: true });
      await fs.writeFile(path.join(root, 'synced', `${EARLIER}@4000`), '');
      await fs.writeFile(path.join(root, 'synced', `${EARLIER}@1000`), '');
      await passedInEarlierBoot(root, EARLIER);
      const reopened = await open(root);
      const left = await keys(reopened);
      assert.ok(!left.includes('s1') && !left.includes('s2'), `s1 and s2 dropped: ${left.join(' ')}`);
      assert.ok(left.includes('s3'), 's3 was committed before the sync at 4000 started');
      assert.ok(left.includes('s4') && left.includes('wc'), 'a working container keeps its chain');
      assert.ok(left.includes('s6') && left.includes('anchor'), "so does a working container's anchor");
      assert.ok(left.includes('base') && left.includes('s0'), 'snapshots of this boot stay');
      await assert.rejects(reopened.stat('s2'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      for (const dir of [s1dir, s2dir]) {
        await assert.rejects(
          fs.lstat(dir),
          (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
          `${dir} removed`,
        );
      }
      const marks = await fs.readdir(path.join(root, 'synced'));
      assert.ok(marks.includes(`${EARLIER}@4000`) && !marks.includes(`${EARLIER}@1000`), marks.join(' '));
      // A dropped step is simply made again under a new name.
      await step(reopened, 's1b', 'base');
      await reopened.remove('wc');
      await reopened.release();
    });

    it('a snapshotter that committed a step leaves a sync mark of this boot once its sync has finished', async () => {
      const marksDir = path.join(root, 'synced');
      const sn = await open(root);
      await step(sn, 's5', 'base');
      const at = (await new MetadataStore(root).mustGet('s5')).unsynced?.at ?? Number.POSITIVE_INFINITY;
      // A finished mark that covers s5: its sync started after s5 was committed (the earlier
      // tests' syncs may finish meanwhile, and cover less).
      const covering = async () => {
        const latest = (await readMarks(marksDir)).latest.get(bootId());
        return latest !== undefined && latest >= at ? latest : undefined;
      };
      assert.equal(await covering(), undefined, 'no sync covers s5 before the release');
      await sn.release();
      let mark: number | undefined;
      for (let i = 0; i < 200 && !mark; i++) {
        mark = await covering();
        if (!mark) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(mark, 'a mark covering s5 within 10 s');
    });
  });
}
