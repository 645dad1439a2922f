/**
 * The busybox fixture as a real multi-platform image in a real registry: `kiln push` sends the
 * index (children first), `kiln pull --platform linux/arm64` picks the arm64 manifest out of it,
 * and a build whose base image exists only in the registry pulls it on the way, for the
 * platform it builds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';
import { type BusyboxImages, ensureBusyboxImages } from '../../../src/testing/fixtures.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';

const KILN = join(import.meta.dirname, '../../../bin/kiln');

function kiln(root: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(KILN, ['--root', root, ...args], (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

describe('the busybox fixture index through a registry', () => {
  let reg: TestRegistry;
  let bb: BusyboxImages;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bb-reg-'));
  const ref = () => `${reg.host}/fixtures/busybox:latest`;

  before(async () => {
    reg = await sharedRegistry();
    const store = openStore(join(dir, 'origin'));
    try {
      bb = await ensureBusyboxImages(store);
      await store.images.put(ref(), bb.index);
    } finally {
      store.close();
    }
    const pushed = await kiln(join(dir, 'origin'), ['push', ref()]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.stdout.trim(), `${ref()}@${bb.index.digest}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('kiln pull --platform linux/arm64 selects the arm64 manifest of the index', async () => {
    const root = join(dir, 'pull-arm64');
    const r = await kiln(root, ['pull', '--platform', 'linux/arm64', ref()]);
    assert.equal(r.code, 0, r.stderr);
    const store = openStore(root);
    try {
      assert.equal((await store.images.get(ref()))?.target.digest, bb.manifests.arm64.digest);
    } finally {
      store.close();
    }
  });

  it('a build FROM an image only the registry has pulls it for the platform it builds', async () => {
    const ctx = join(dir, 'ctx');
    const out = join(dir, 'out');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${ref()}\nRUN uname -m > /machine\n`);
    const root = join(dir, 'build');
    const r = await kiln(root, [
      'build',
      '--progress',
      'plain',
      '--platform',
      'linux/arm64',
      '-o',
      `type=local,dest=${out}`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(out, 'machine'), 'utf8'), 'aarch64\n');
    const store = openStore(root);
    try {
      assert.equal(
        (await store.images.get(ref()))?.target.digest,
        bb.manifests.arm64.digest,
        'the pulled base is named',
      );
    } finally {
      store.close();
    }
  });
});
