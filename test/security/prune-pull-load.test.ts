/**
 * Prunes racing pulls and loads (security issue 10): `kiln pull`, `kiln image load` of a layout
 * directory and of an archive skip the blobs the store already has. Each holds what it finds
 * present until the image is named, so a `kiln prune` in another process between the check and
 * the naming cannot leave a named image without its blobs. Each race is made certain: the pull's
 * one download stalls at a proxy, the layout's one missing blob is a FIFO the test writes, the
 * archive's image is named only after the prune has run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Descriptor } from '../../src/oci/descriptor.ts';
import { ClosureWalker } from '../../src/store/closure.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { loadArchive } from '../../src/tarball/load.ts';
import { ensureBusyboxImages } from '../../src/testing/fixtures.ts';
import { sharedRegistry, type TestRegistry } from '../../src/testing/registry.ts';
import { type FaultProxy, startFaultProxy } from '../integration/registry/fault-proxy.ts';
import { type KilnRun, startKiln } from './helpers.ts';
import { makeSentinel } from './sentinel.ts';

/** kiln on `root` as these tests run it. */
function start(root: string, args: string[]): ReturnType<typeof startKiln> {
  // No time limit of its own: the prune loops run until the test stops them.
  return startKiln(root, args, { env: { NO_COLOR: '1' }, timeoutMs: 600_000 });
}

async function ok(root: string, args: string[]): Promise<KilnRun> {
  const r = await start(root, args).done;
  assert.equal(r.code, 0, `kiln ${args.join(' ')} failed:\n${r.out}\n${r.err}`);
  return r;
}

async function withStore<T>(root: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = openStore(root);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Every blob the image `name` reaches is in the store, and fsck finds the root sound. */
async function assertComplete(root: string, name: string): Promise<void> {
  await withStore(root, async (store) => {
    const rec = await store.images.get(name);
    assert.ok(rec, `${name} is named`);
    const closure = new ClosureWalker(store.content).walk([rec.target]);
    assert.deepEqual(closure.missing, [], `every blob ${name} reaches is present`);
    assert.ok(closure.blobs.size >= 3, 'manifest, config and layer');
  });
  const fsck = await start(root, ['fsck', '--format', 'json']).done;
  assert.equal(JSON.parse(fsck.out || '{}').sound, true, `fsck: ${fsck.out}\n${fsck.err}`);
}

/** The busybox amd64 manifest, config and layer of a store, and their files. */
async function amd64Blobs(store: Store) {
  const { manifests } = await ensureBusyboxImages(store);
  const manifest = manifests.amd64;
  const doc = JSON.parse((await store.content.readBlob(manifest.digest)).toString('utf8'));
  const config: Descriptor = doc.config;
  const layer: Descriptor = doc.layers[0];
  return { manifest, config, layer, path: (d: Descriptor) => store.content.blobPath(d.digest) };
}

/** Forget every name (blobs stay until a GC), as after `rmi` of the last name. */
function forgetNames(store: Store): void {
  for (const r of store.meta.listImages()) store.meta.deleteImage(r.name);
}

describe('prune racing pulls and loads', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-prune-pull-load-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('with a registry behind a proxy', () => {
    let reg: TestRegistry;
    let proxy: FaultProxy;
    before(async () => {
      reg = await sharedRegistry();
      proxy = await startFaultProxy(reg.host);
    });
    after(() => proxy.close());

    it('a pull keeps the blobs it found present while a prune runs before it names the image', async () => {
      const host = makeSentinel(join(dir, 'pull-host'));
      const origin = join(dir, 'pull-origin');
      const name = `${reg.host}/prune-pull/busybox:1`;
      // One manifest, no index: nothing but the hold keeps what the pull skips.
      await withStore(origin, async (store) => {
        const { manifests } = await ensureBusyboxImages(store);
        await store.images.put(name, manifests.amd64);
      });
      await ok(origin, ['push', name]);
      const viaProxy = `${proxy.host}/prune-pull/busybox:1`;
      const root = join(dir, 'pull');
      // The config stays in the store, unnamed; the layer goes, so the pull must download it.
      await ok(root, ['pull', viaProxy]);
      let layer = '';
      await withStore(root, async (store) => {
        const rec = await store.images.get(viaProxy);
        const doc = JSON.parse((await store.content.readBlob(rec!.target.digest)).toString('utf8'));
        layer = doc.layers[0].digest;
        forgetNames(store);
        rmSync(store.content.blobPath(doc.layers[0].digest));
      });
      let release = () => {};
      const gate = new Promise<void>((r) => (release = r));
      proxy.rule = (req) =>
        req.method === 'GET' && req.url?.endsWith(`/blobs/${layer}`) ? { until: gate } : undefined;
      try {
        const pull = start(root, ['pull', viaProxy]);
        while (!proxy.seen.some((s) => s.url.endsWith(`/blobs/${layer}`) && s.fault)) {
          assert.equal(pull.child.exitCode, null, 'the pull is still running');
          await sleep(20);
        }
        // The download is stalled: the pull has checked its config and skipped it.
        const pruned = await ok(root, ['prune', '-f']);
        release();
        const pulled = await pull.done;
        assert.equal(pulled.code, 0, pulled.err);
        assert.ok(pruned.out.length > 0);
      } finally {
        release();
        proxy.rule = () => undefined;
      }
      await assertComplete(root, viaProxy);
      host.assertUntouched();
    });
  });

  it('a load of a layout directory keeps the blobs it found present while a prune runs', async () => {
    const host = makeSentinel(join(dir, 'layout-host'));
    const root = join(dir, 'layout');
    const layout = join(dir, 'layout-dir');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    let configBytes: Buffer = Buffer.alloc(0);
    let configFile = '';
    await withStore(root, async (store) => {
      const b = await amd64Blobs(store);
      for (const d of [b.manifest, b.layer]) copyFileSync(b.path(d), join(blobs, d.digest.slice(7)));
      configBytes = await store.content.readBlob(b.config.digest);
      configFile = join(blobs, b.config.digest.slice(7));
      writeFileSync(
        join(layout, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: b.manifest.mediaType,
              digest: b.manifest.digest,
              size: b.manifest.size,
            },
          ],
        }),
      );
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      // The store keeps the layer, unnamed; the config must come from the layout.
      forgetNames(store);
      rmSync(b.path(b.config));
    });
    await new Promise<void>((resolve, reject) =>
      spawn('mkfifo', [configFile]).on('close', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo')))),
    );
    const load = start(root, ['image', 'load', '-i', layout, '-t', 'layout-race:1']);
    // Opening the FIFO for writing waits for the load to open it for reading: by then it has
    // checked the layer (present, skipped); give the check a moment to settle.
    const writer = await open(configFile, 'w');
    await sleep(300);
    await ok(root, ['prune', '-f']);
    await writer.writeFile(configBytes);
    await writer.close();
    const loaded = await load.done;
    assert.equal(loaded.code, 0, loaded.err);
    await assertComplete(root, 'docker.io/library/layout-race:1');
    host.assertUntouched();
  });

  it('a load of an archive keeps the blobs it found present (left out of the archive) until it names the image', async () => {
    const host = makeSentinel(join(dir, 'archive-host'));
    const root = join(dir, 'archive');
    const layout = join(dir, 'archive-layout');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    let manifest: Descriptor | undefined;
    await withStore(root, async (store) => {
      const b = await amd64Blobs(store);
      manifest = b.manifest;
      // The archive holds only its index: the store has the manifest, config and layer, unnamed
      // (a manifest the load wrote would keep what it reaches through the load's lease).
      writeFileSync(
        join(layout, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: b.manifest.mediaType, digest: b.manifest.digest, size: b.manifest.size }],
        }),
      );
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      forgetNames(store);
    });
    const archive = join(dir, 'archive.tar');
    await new Promise<void>((resolve, reject) =>
      spawn('tar', ['-cf', archive, '-C', layout, '.']).on('close', (c) =>
        c === 0 ? resolve() : reject(new Error('tar')),
      ),
    );
    await withStore(root, (store) =>
      store.withLease(async (content) => {
        // Loaded without naming; a prune in another process runs before the name is set.
        const r = await loadArchive(createReadStream(archive), content, undefined);
        assert.equal(r.images[0].root.digest, manifest!.digest);
        await ok(root, ['prune', '-f']);
        await store.images.put('archive-race:1', r.images[0].root);
      }),
    );
    await assertComplete(root, 'docker.io/library/archive-race:1');
    host.assertUntouched();
  });
});
