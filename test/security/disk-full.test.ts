/**
 * A full disk is DISK_FULL, never "The operation was aborted" or SQLite's "cannot rollback": the
 * state root lives on a small tmpfs (the suite runs as root), kiln runs through bin/kiln, and
 * after each failure nothing is half-written, fsck says sound and a host sentinel is untouched.
 * On a disk already full, listing and pruning still work and free the space.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/client.ts';
import { pushImage } from '../../src/registry/push.ts';
import { seedBusybox } from '../../src/testing/fixtures.ts';
import { sharedRegistry } from '../../src/testing/registry.ts';
import { makeImage, tempStore } from '../integration/registry/helpers.ts';
import { assertCleanFailure, assertSound, runKiln, scratchDir, sentinel } from './helpers.ts';

/** A tmpfs of `mb` MiB mounted at a fresh directory; `unmount` removes it. */
function smallDisk(parent: string, name: string, mb: number): { dir: string; unmount(): void } {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir]);
  return { dir, unmount: () => execFileSync('umount', ['-l', dir]) };
}

/** Fill the filesystem of `dir` to the last byte with a file outside the state root. */
function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=1M', 'count=4096'], {
      stdio: 'ignore',
    });
  } catch {
    // dd fails when the disk is full: that is the point.
  }
  assert.equal(statfsSync(dir).bavail, 0, 'the disk is not full');
}

const DISK_FULL = (root: string) =>
  new RegExp(`^error: no space left on the device of the state root ${root}`, 'm');

describe('a full disk', () => {
  const tmp = scratchDir('full');
  let host: string;
  let guard: ReturnType<typeof sentinel>;
  const disks: { unmount(): void }[] = [];
  before(async () => {
    host = (await sharedRegistry()).host;
    guard = sentinel(tmp.dir);
    const src = tempStore();
    try {
      const client = new RegistryClient({ credentials: async () => undefined });
      const big = await makeImage(src, [12 << 20, 1000]);
      await pushImage({ root: big.manifest, blobs: src.content }, `${host}/kiln-sec/big:1`, { client });
      const small = await makeImage(src, [1 << 20]);
      await pushImage({ root: small.manifest, blobs: src.content }, `${host}/kiln-sec/small:1`, { client });
    } finally {
      src.cleanup();
    }
  });
  after(() => {
    for (const d of disks) d.unmount();
    tmp.cleanup();
  });

  it('a pull larger than the disk fails with DISK_FULL naming the root and the bytes needed', async () => {
    const disk = smallDisk(tmp.dir, 'pull', 8);
    disks.push(disk);
    const root = join(disk.dir, 'root');
    const r = await runKiln(root, ['pull', `${host}/kiln-sec/big:1`]);
    assertCleanFailure(r, DISK_FULL(root));
    assert.match(r.err, /\(\d{8} bytes were needed\)/);
    assert.match(r.err, /^hint: free space there/m);
    assert.deepEqual(readdirSync(join(root, 'ingest')), [], 'a temp file was left');
    await assertSound(root);
    guard.assertUntouched();
  });

  it('a build whose layer export finds no room fails with DISK_FULL, not "The operation was aborted"', async () => {
    const disk = smallDisk(tmp.dir, 'build', 16);
    disks.push(disk);
    const root = join(disk.dir, 'root');
    await seedBusybox(root);
    const ctx = join(tmp.dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    // 6 MiB fits in the snapshot, but not once more as the exported layer.
    writeFileSync(join(ctx, 'big'), randomBytes(6 << 20));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY big /big\nRUN true\n');
    for (let i = 0; i < 3; i++) {
      const r = await runKiln(root, ['build', '--progress', 'plain', ctx]);
      assertCleanFailure(r, DISK_FULL(root));
      assert.doesNotMatch(r.err, /aborted/);
      assert.deepEqual(readdirSync(join(root, 'ingest')), [], 'a temp file was left');
    }
    await assertSound(root);
    guard.assertUntouched();
  });

  it('on a disk already full, kiln images works and kiln prune -a frees the space', async () => {
    const disk = smallDisk(tmp.dir, 'prune', 8);
    disks.push(disk);
    const root = join(disk.dir, 'root');
    const pulled = await runKiln(root, ['pull', `${host}/kiln-sec/small:1`]);
    assert.equal(pulled.code, 0, pulled.err);
    fill(disk.dir);
    // Opening the metadata database failed ("disk I/O error": WAL's shared memory cannot grow),
    // and a failed commit's ROLLBACK hid the cause ("cannot rollback - no transaction is active").
    const listed = await runKiln(root, ['images']);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /kiln-sec\/small/);
    const pruned = await runKiln(root, ['prune', '-a', '-f']);
    assert.equal(pruned.code, 0, pruned.err);
    assert.match(pruned.out, /Untagged: .*kiln-sec\/small:1/);
    assert.ok(statfsSync(disk.dir).bavail > 0, 'prune freed nothing');
    await assertSound(root);
    rmSync(join(disk.dir, 'filler'));
    const again = await runKiln(root, ['images']);
    assert.doesNotMatch(again.out, /kiln-sec\/small/);
    guard.assertUntouched();
  });

  it('a write on a full disk fails with DISK_FULL and leaves the store sound', async () => {
    const disk = smallDisk(tmp.dir, 'write', 8);
    disks.push(disk);
    const root = join(disk.dir, 'root');
    const first = await runKiln(root, ['images']);
    assert.equal(first.code, 0, first.err);
    fill(disk.dir);
    const r = await runKiln(root, ['pull', `${host}/kiln-sec/small:1`]);
    assertCleanFailure(r, DISK_FULL(root));
    await assertSound(root);
    guard.assertUntouched();
  });
});
