/**
 * Opening a snapshot store passes over its records only when something can be left to clean
 * (snapshot/writers.ts): a writer whose process is gone, or no pass yet in this boot. Stale
 * state is planted as a killed process leaves it: an active snapshot's record owned by a process
 * that is gone, and its directory.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../../../src/errors/errors.ts';
import { bootId } from '../../../src/snapshot/durability.ts';
import { MetadataStore } from '../../../src/snapshot/metadata.ts';
import { NativeSnapshotter } from '../../../src/snapshot/native/native.ts';
import { passedInEarlierBoot } from '../../../src/testing/reboot.ts';

const NATIVE = path.resolve(import.meta.dirname, '../../../src/snapshot/native/native.ts');

/** A pid and start time no process has now: a child that has exited. */
function goneProcess(): { pid: number; start: string } {
  const { pid } = spawnSync('/bin/true');
  assert.ok(pid);
  return { pid, start: '1' };
}

describe('snapshot store: the pass over records at open', () => {
  let tmp: string;
  let root: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-writers-'));
    root = path.join(tmp, 'root');
    const sn = await NativeSnapshotter.open(root);
    await sn.prepare('base-active');
    await sn.commit('base', 'base-active');
    await sn.release();
  });
  after(() => fs.rm(tmp, { recursive: true, force: true }));

  const writers = () => fs.readdir(path.join(root, 'writers'));

  /** An active snapshot as a process that is gone left it: its record and its directory. */
  async function plantStale(key: string, age = 0): Promise<string> {
    const id = `${key}00`.slice(0, 6);
    const dir = path.join(root, 'snapshots', id);
    await fs.mkdir(path.join(dir, 'fs'), { recursive: true });
    await new MetadataStore(root).create({
      key,
      kind: 'active',
      id,
      created: new Date().toISOString(),
      labels: {},
      parent: 'base',
      owner: goneProcess(),
    });
    if (age > 0) {
      const then = new Date(Date.now() - age);
      await fs.utimes(dir, then, then);
    }
    return dir;
  }

  it('an open in a boot that has passed, with every writer live, reads no record', async () => {
    assert.deepEqual(await writers(), [`boot-${bootId()}`], 'the pass is marked; the last writer has left');
    const dir = await plantStale('aaaaaa');
    const sn = await NativeSnapshotter.open(root);
    assert.equal((await sn.stat('aaaaaa')).kind, 'active', 'no pass: the planted record stays');
    await fs.access(dir);
    await sn.release();
  });

  it('a writer that is gone makes the next open pass, and its name goes with what it left', async () => {
    const gone = goneProcess();
    const name = `${gone.pid}-${gone.start}-0123456789abcdef`;
    await fs.writeFile(path.join(root, 'writers', name), '');
    // latest/: a name of a snapshot gone and a dead process's temp file go; a live name stays.
    const latest = path.join(root, 'latest');
    await fs.mkdir(latest, { recursive: true });
    const hex = (s: string) => createHash('sha256').update(s).digest('hex');
    await fs.writeFile(path.join(latest, hex('gone')), 'no-such-snapshot');
    await fs.writeFile(path.join(latest, `${hex('tmp')}.${gone.pid}-${gone.start}-00ff.tmp`), 'base');
    await fs.writeFile(path.join(latest, hex('kept')), 'base');
    const sn = await NativeSnapshotter.open(root);
    assert.deepEqual(await fs.readdir(latest), [hex('kept')]);
    await assert.rejects(sn.stat('aaaaaa'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
    await assert.rejects(fs.access(path.join(root, 'snapshots', 'aaaaaa')), { code: 'ENOENT' });
    assert.equal((await sn.stat('base')).kind, 'committed');
    await sn.release();
    assert.deepEqual(await writers(), [`boot-${bootId()}`]);
  });

  it('a process that ends with an active snapshot keeps its name, so the next open removes the snapshot', async () => {
    const script = `
      const { NativeSnapshotter: S } = await import(${JSON.stringify(NATIVE)});
      const s = await S.open(${JSON.stringify(root)});
      await s.prepare('left', 'base');
      await s.prepare('done-active', 'base');
      await s.commit('done', 'done-active');
      await s.release();`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
    assert.equal((await writers()).length, 2, 'the ended process is still named');
    const sn = await NativeSnapshotter.open(root);
    await assert.rejects(sn.stat('left'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
    assert.equal((await sn.stat('done')).kind, 'committed');
    await sn.release();
    assert.deepEqual(await writers(), [`boot-${bootId()}`]);
  });

  it("a directory without a record too young to remove keeps a gone writer's name until it goes", async () => {
    const gone = goneProcess();
    const name = `${gone.pid}-${gone.start}-fedcba9876543210`;
    await fs.writeFile(path.join(root, 'writers', name), '');
    const orphan = path.join(root, 'snapshots', 'bbbbbb');
    await fs.mkdir(orphan);
    let sn = await NativeSnapshotter.open(root);
    await sn.release();
    await fs.access(orphan);
    assert.ok((await writers()).includes(name), 'kept while the directory may be a prepare in flight');
    const then = new Date(Date.now() - 5 * 60_000);
    await fs.utimes(orphan, then, then);
    sn = await NativeSnapshotter.open(root);
    await sn.release();
    await assert.rejects(fs.access(orphan), { code: 'ENOENT' });
    assert.deepEqual(await writers(), [`boot-${bootId()}`]);
  });

  it("removing its own view or active snapshot reads no other record; a committed one's removal reads them all", async () => {
    const sn = await NativeSnapshotter.open(root);
    await sn.view('own-view', 'base');
    await sn.prepare('own-active', 'base');
    await sn.prepare('other-active', 'base');
    await sn.commit('other', 'other-active');
    // A record no parser reads: a removal that lists the records fails on it.
    const planted = path.join(root, 'metadata', `${'e'.repeat(64)}.json`);
    await fs.writeFile(planted, 'not a record');
    try {
      await sn.remove('own-view');
      await sn.remove('own-active');
      await assert.rejects(sn.remove('other'), SyntaxError);
    } finally {
      await fs.rm(planted);
    }
    await sn.remove('other');
    for (const key of ['own-view', 'own-active', 'other'])
      await assert.rejects(sn.stat(key), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
    await sn.release();
  });

  it('the first open of a boot passes', async () => {
    await plantStale('cccccc', 5 * 60_000);
    await passedInEarlierBoot(root, '0e0e0e0e-1111-4222-8333-444455556666');
    const sn = await NativeSnapshotter.open(root);
    await assert.rejects(sn.stat('cccccc'), (e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
    await sn.release();
    assert.deepEqual(await writers(), [`boot-${bootId()}`], "the earlier boot's mark went");
  });
});
