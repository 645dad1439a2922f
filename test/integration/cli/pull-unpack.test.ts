/**
 * `kiln pull --unpack` (and `kiln image import --unpack`): the pull also makes the base layer snapshots a build's first use would
 * make, so a build FROM the image afterwards unpacks nothing (without the flag, the build does);
 * and a hostile layer is refused or confined through it exactly as when a build unpacks it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { TarWriter } from '../../../src/archive/tar/writer.ts';
import { sha256 } from '../../../src/digest/digest.ts';
import { encodeManifest } from '../../../src/oci/manifest.ts';
import { MediaType } from '../../../src/oci/mediatypes.ts';
import { hostPlatform } from '../../../src/oci/platform.ts';
import { openSnapshotter } from '../../../src/store/snapshots.ts';
import { openStore } from '../../../src/store/store.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { tarBytes } from '../../../src/testing/tar.ts';
import { type CliRoot, cliRoot } from './helpers.ts';

let r: CliRoot;
let reg: TestRegistry;
let busybox: string;
before(async () => {
  r = await cliRoot('pull-unpack');
  reg = await sharedRegistry();
  busybox = `${reg.host}/unpack/busybox:1`;
  r.ok(['push', '-q', 'busybox:latest', busybox]);
});
after(() => r.close());

/** The base layer snapshots of a root (named by chain id), with when each was made. */
async function layerSnapshots(root: string): Promise<string[]> {
  if (!existsSync(join(root, 'snapshots'))) return [];
  const sn = await openSnapshotter(join(root, 'snapshots'));
  try {
    return (await sn.list())
      .filter((s) => s.key.startsWith('layer-'))
      .map((s) => `${s.key} ${s.kind} ${s.created}`)
      .sort();
  } finally {
    await sn.release();
  }
}

/** A fresh state root under the suite's directory, for `kiln` with KILN_ROOT set to it. */
function freshRoot(name: string): { root: string; env: Record<string, string> } {
  const root = join(r.dir, name);
  return { root, env: { KILN_ROOT: root } };
}

/**
 * In a fresh root: `fetch` (a pull or an import without --unpack) leaves no layer snapshot, and a
 * build of `ctx` then makes the one layer's; the root and the build's output.
 */
async function unpackedByBuild(
  name: string,
  fetch: string[],
  ctx: string,
): Promise<{ root: { root: string; env: Record<string, string> }; built: string }> {
  const root = freshRoot(name);
  const fetched = r.kiln(fetch, { env: root.env });
  assert.equal(fetched.code, 0, fetched.err);
  assert.deepEqual(await layerSnapshots(root.root), []);
  const built = r.kiln(['build', '-q', ctx], { env: root.env });
  assert.equal(built.code, 0, built.err);
  assert.equal((await layerSnapshots(root.root)).length, 1, 'the build unpacked the one layer');
  return { root, built: built.out };
}

/** Push a one-layer image whose layer is the tar `entries` make, for this host's platform. */
async function pushHostile(name: string, entries: (tar: TarWriter) => Promise<void>): Promise<string> {
  const raw = await tarBytes(entries);
  const store = openStore(r.root);
  try {
    await store.withLease(async (content) => {
      const layer = await content.writeBlob(gzipSync(raw));
      const { os, architecture } = hostPlatform();
      const config = await content.writeBlob(
        Buffer.from(
          JSON.stringify({ os, architecture, rootfs: { type: 'layers', diff_ids: [sha256(raw)] } }),
        ),
      );
      const manifest = encodeManifest({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
        layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }],
      });
      const m = await content.writeBlob(manifest);
      await store.images.put(`localhost/${name}:1`, {
        mediaType: MediaType.OciManifest,
        digest: m.digest,
        size: m.size,
      });
    });
  } finally {
    store.close();
  }
  const ref = `${reg.host}/unpack/${name}:1`;
  r.ok(['push', '-q', `localhost/${name}:1`, ref]);
  return ref;
}

describe('kiln pull --unpack', () => {
  it('makes the base snapshots a build FROM the image then uses, unpacking nothing more', async () => {
    const dockerfile = `FROM ${busybox}\nRUN echo built > /built\n`;
    const ctx = await r.context({ Dockerfile: dockerfile });

    // Without the flag the pull unpacks nothing and the build makes the base snapshot itself.
    const { root: plain, built } = await unpackedByBuild('plain', ['pull', busybox], ctx);

    const unpacked = freshRoot('unpacked');
    const pull = r.kiln(['pull', '--unpack', busybox], { env: unpacked.env });
    assert.equal(pull.code, 0, pull.err);
    assert.match(pull.err, /Unpacked 1 layer\n/);
    assert.equal(pull.out, `${busybox}\n`);
    const before = await layerSnapshots(unpacked.root);
    assert.equal(before.length, 1);
    assert.match(before[0], / committed /);
    const again = r.kiln(['build', '-q', ctx], { env: unpacked.env });
    assert.equal(again.code, 0, again.err);
    // The RUN layer's mtimes differ between the two builds; the base layer may not.
    const base = (root: { env: Record<string, string> }, id: string) =>
      JSON.parse(r.kiln(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', id.trim()], root).out)[0];
    assert.equal(base(unpacked, again.out), base(plain, built));
    assert.deepEqual(await layerSnapshots(unpacked.root), before, 'the build made no base snapshot');

    // Pulling again finds the snapshot there and leaves it as it is.
    const twice = r.kiln(['pull', '--unpack', '-q', busybox], { env: unpacked.env });
    assert.equal(twice.code, 0, twice.err);
    assert.deepEqual(await layerSnapshots(unpacked.root), before);
  });

  it('refuses a layer entry climbing out with ../, writing nothing outside and keeping no snapshot', async () => {
    const outside = join(r.dir, `escaped-${process.pid}`);
    const depth = '../'.repeat(12);
    const ref = await pushHostile('dotdot', async (tar) => {
      await tar.add({ path: 'ok.txt', type: 'file', mode: 0o644 }, Buffer.from('ok\n'));
      await tar.add({ path: `${depth}${outside.slice(1)}`, type: 'file', mode: 0o644 }, Buffer.from('x\n'));
    });
    const target = freshRoot('dotdot');
    const pull = r.kiln(['pull', '--unpack', ref], { env: target.env });
    assert.equal(pull.code, 1, pull.err);
    assert.match(pull.err, /error: layer sha256:[0-9a-f]{64}: .*contains a "\.\." component/);
    assert.match(pull.err, /hint: .*hostile/);
    assert.ok(!existsSync(outside), 'the layer wrote outside its snapshot');
    assert.deepEqual(await layerSnapshots(target.root), []);
  });

  it('resolves an absolute symlink inside the snapshot: a file written through it stays off the host', async () => {
    const hostDir = join(r.dir, `host-dir-${process.pid}`);
    await mkdir(hostDir);
    const ref = await pushHostile('abslink', async (tar) => {
      await tar.add({ path: 'evil', type: 'symlink', linkname: hostDir, mode: 0o777 });
      await tar.add({ path: 'evil/planted', type: 'file', mode: 0o644 }, Buffer.from('planted\n'));
    });
    const target = freshRoot('abslink');
    const pull = r.kiln(['pull', '--unpack', ref], { env: target.env });
    assert.equal(pull.code, 0, pull.err);
    assert.ok(!existsSync(join(hostDir, 'planted')), 'the layer wrote through its symlink onto the host');
    assert.equal((await layerSnapshots(target.root)).length, 1);
    await rm(hostDir, { recursive: true });
  });
});

describe('kiln image import --unpack', () => {
  it('makes the snapshot a build FROM the imported image then uses, named or not', async () => {
    const rootfs = join(r.dir, 'rootfs.tar');
    await writeFile(
      rootfs,
      await tarBytes(async (tar) => {
        await tar.add({ path: 'etc', type: 'directory', mode: 0o755 });
        await tar.add({ path: 'etc/hostname', type: 'file', mode: 0o644 }, Buffer.from('rootfs\n'));
      }),
    );
    const ctx = await r.context({ Dockerfile: 'FROM imported/rootfs:1\nCOPY Dockerfile /Dockerfile\n' });

    const { root: plain } = await unpackedByBuild(
      'import-plain',
      ['image', 'import', rootfs, 'imported/rootfs:1'],
      ctx,
    );

    const unpacked = freshRoot('import-unpacked');
    const withFlag = r.kiln(['image', 'import', '--unpack', rootfs, 'imported/rootfs:1'], {
      env: unpacked.env,
    });
    assert.equal(withFlag.code, 0, withFlag.err);
    const layers = (root: { env: Record<string, string> }) =>
      r.kiln(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'imported/rootfs:1'], root).out;
    assert.equal(layers(unpacked), layers(plain), 'the same layer either way');
    const before = await layerSnapshots(unpacked.root);
    assert.equal(before.length, 1);
    assert.match(before[0], / committed /);
    const again = r.kiln(['build', '-q', ctx], { env: unpacked.env });
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(await layerSnapshots(unpacked.root), before, 'the build made no base snapshot');

    // Without a name the image is found by its digest.
    const unnamed = freshRoot('import-unnamed');
    const bare = r.kiln(['image', 'import', '--unpack', rootfs], { env: unnamed.env });
    assert.equal(bare.code, 0, bare.err);
    assert.equal((await layerSnapshots(unnamed.root)).length, 1);
  });
});
