/**
 * A registry that stops answering (SIGSTOP, a real registry of this file's own) fails a pull or
 * a push within the idle timeout with REGISTRY_STALLED naming the registry and the operation,
 * instead of hanging; after SIGCONT the same command succeeds and the store is sound.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryClient } from '../../src/registry/client.ts';
import { pushImage } from '../../src/registry/push.ts';
import { openStore } from '../../src/store/store.ts';
import { startRegistry, type TestRegistry } from '../../src/testing/registry.ts';
import { makeImage, tempStore } from '../integration/registry/helpers.ts';
import { assertCleanFailure, assertSound, runKiln, scratchDir } from './helpers.ts';

const IDLE_S = 2;
const env = { KILN_REGISTRY_IDLE_TIMEOUT: String(IDLE_S) };

/** Resolves once `probe` is true (polled every few ms), or rejects after `ms`. */
async function until(probe: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(3);
  }
}

/** Files below `dir` with at least one byte written. */
function hasData(dir: string): boolean {
  if (!existsSync(dir)) return false;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    // A temp may be renamed away between the listing and the stat.
    if (e.isFile() && (statSync(join(e.parentPath, e.name), { throwIfNoEntry: false })?.size ?? 0) > 0)
      return true;
  }
  return false;
}

describe('a registry that stops answering', () => {
  const tmp = scratchDir('stall');
  let reg: TestRegistry;
  let stopped = false;
  const stop = () => {
    process.kill(reg.pid(), 'SIGSTOP');
    stopped = true;
  };
  const resume = () => {
    if (stopped) process.kill(reg.pid(), 'SIGCONT');
    stopped = false;
  };
  before(async () => {
    // Its own registry: the shared one serves every other test file.
    reg = await startRegistry();
    const src = tempStore();
    try {
      const img = await makeImage(src, [48 << 20, 1000]);
      await pushImage({ root: img.manifest, blobs: src.content }, `${reg.host}/kiln-sec/stall:1`, {
        client: new RegistryClient({ credentials: async () => undefined }),
      });
    } finally {
      src.cleanup();
    }
  });
  after(async () => {
    resume();
    await reg.stop();
    tmp.cleanup();
  });

  it(`mid-pull: fails within the ${IDLE_S}s idle timeout with REGISTRY_STALLED; after SIGCONT the pull succeeds`, async () => {
    const root = join(tmp.dir, 'pull-root');
    const running = runKiln(root, ['pull', `${reg.host}/kiln-sec/stall:1`], { env, timeoutMs: 60_000 });
    // Stop the registry once the layer's bytes have started to arrive.
    await until(() => hasData(join(root, 'ingest')), 30_000, 'the download to start');
    stop();
    const r = await running;
    resume();
    assertCleanFailure(r, new RegExp(`registry ${reg.host}.*moved no data for ${IDLE_S}s`));
    assert.match(r.err, /^error: downloading blob sha256:[0-9a-f]{64}: registry /m);
    assert.ok(r.ms < (IDLE_S + 8) * 1000, `took ${r.ms} ms`);
    assert.deepEqual(readdirSync(join(root, 'ingest')), [], 'a temp file was left');
    const again = await runKiln(root, ['pull', `${reg.host}/kiln-sec/stall:1`], { env });
    assert.equal(again.code, 0, again.err);
    await assertSound(root);
  });

  it(`mid-push: fails within the ${IDLE_S}s idle timeout with REGISTRY_STALLED; after SIGCONT the push succeeds`, async () => {
    const root = join(tmp.dir, 'push-root');
    const store = openStore(root);
    try {
      const img = await makeImage(store, [48 << 20, 1000]);
      await store.images.put(`${reg.host}/kiln-sec/pushed:1`, img.manifest);
    } finally {
      store.close();
    }
    const uploads = join(reg.storageDir, 'docker/registry/v2/repositories/kiln-sec/pushed/_uploads');
    const running = runKiln(root, ['push', `${reg.host}/kiln-sec/pushed:1`], {
      env,
      timeoutMs: 60_000,
    });
    await until(() => hasData(uploads), 30_000, 'the upload to start');
    stop();
    const r = await running;
    resume();
    assertCleanFailure(r, new RegExp(`registry ${reg.host}.*moved no data for ${IDLE_S}s`));
    assert.match(r.err, /^error: pushing blob sha256:[0-9a-f]{64}: registry /m);
    assert.ok(r.ms < (IDLE_S + 8) * 1000, `took ${r.ms} ms`);
    const again = await runKiln(root, ['push', `${reg.host}/kiln-sec/pushed:1`], {
      env,
    });
    assert.equal(again.code, 0, again.err);
    await assertSound(root);
  });
});
