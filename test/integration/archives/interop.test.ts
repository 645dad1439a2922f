/**
 * kiln's archives judged by independent tools: skopeo reads what kiln writes (oci-archive:,
 * docker-archive:), umoci unpacks kiln's OCI layout, and what skopeo writes loads into kiln with
 * the same manifest and config digests. Needs skopeo and umoci (scripts/setup.sh installs them).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { copyImage } from '../../../src/image/copy.ts';
import { loadManifest } from '../../../src/image/load.ts';
import { localImageSource } from '../../../src/imagestore/imagestore.ts';
import { OciLayoutSink } from '../../../src/layout/layout.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { loadArchive } from '../../../src/tarball/load.ts';
import { type ArchiveFormat, writeArchive } from '../../../src/tarball/save.ts';
import { type BusyboxImages, ensureBusyboxImages } from '../../../src/testing/fixtures.ts';

function tool(name: string, args: string[]): string {
  try {
    return execFileSync(name, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${name} is not installed: run sudo bash scripts/setup.sh`);
    throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr ?? String(err)}`);
  }
}
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

let dir: string;
let store: Store;
let bb: BusyboxImages;

async function save(file: string, names: string[], format: ArchiveFormat): Promise<void> {
  const images = [];
  for (const n of names) images.push({ name: n, root: (await store.images.get(n))!.target });
  await pipeline(writeArchive(store.content, images, { format }), createWriteStream(file));
}

async function loadInto(
  file: string,
): Promise<{ store: Store; result: Awaited<ReturnType<typeof loadArchive>> }> {
  const s = openStore(join(dir, `load-${Math.random().toString(36).slice(2)}`));
  const result = await s.withLease((c) => loadArchive(createReadStream(file), c, s.images));
  return { store: s, result };
}

before(async () => {
  tool('skopeo', ['--version']);
  tool('umoci', ['--version']);
  dir = await mkdtemp(join(tmpdir(), 'kiln-interop-'));
  store = openStore(join(dir, 'root'));
  bb = await ensureBusyboxImages(store);
});
after(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('skopeo reads archives kiln writes', () => {
  it('oci format: skopeo sees the same index and per-platform configs', async () => {
    const file = join(dir, 'bb-oci.tar');
    await save(file, ['kiln-test/busybox:latest'], 'oci');
    const raw = tool('skopeo', ['inspect', '--raw', `oci-archive:${file}:latest`]);
    assert.equal(sha(raw), bb.index.digest);
    const arm = JSON.parse(
      tool('skopeo', ['inspect', '--override-arch', 'arm64', `oci-archive:${file}:latest`]),
    );
    assert.equal(arm.Architecture, 'arm64');
    const armManifest = await loadManifest(store.content, bb.manifests.arm64);
    assert.deepEqual(
      arm.Layers,
      armManifest.layers.map((l) => l.digest),
    );
  });

  it('docker format: skopeo docker-archive: reads each named image with its config', async () => {
    const file = join(dir, 'bb-docker.tar');
    await save(file, ['kiln-test/busybox:amd64', 'kiln-test/busybox:arm64'], 'docker');
    for (const arch of ['amd64', 'arm64'] as const) {
      const ref = `docker-archive:${file}:kiln-test/busybox:${arch}`;
      const config = tool('skopeo', ['inspect', '--config', '--raw', ref]);
      const m = await loadManifest(store.content, bb.manifests[arch]);
      assert.equal(sha(config), m.config.digest);
      const info = JSON.parse(tool('skopeo', ['inspect', ref]));
      assert.deepEqual(info.RepoTags, []);
      assert.equal(info.Architecture, arch);
    }
  });
});

describe('umoci unpacks kiln OCI layouts', () => {
  it('the amd64 busybox image unpacks to a bundle with busybox, applets and /etc/passwd', async () => {
    const layout = join(dir, 'layout');
    await copyImage(
      await localImageSource(store.content, store.images, 'kiln-test/busybox:amd64'),
      new OciLayoutSink(layout),
      {
        tag: 'kiln-test/busybox:amd64',
      },
    );
    const bundle = join(dir, 'bundle');
    tool('umoci', ['unpack', '--image', `${layout}:amd64`, bundle]);
    assert.ok(existsSync(join(bundle, 'config.json')));
    assert.ok(existsSync(join(bundle, 'rootfs', 'bin', 'busybox')));
    assert.match(readFileSync(join(bundle, 'rootfs', 'etc', 'passwd'), 'utf8'), /^app:x:1000:1000:/m);
    const runtime = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    assert.deepEqual(runtime.process.args, ['sh']);
  });
});

describe('kiln loads archives skopeo writes', () => {
  it('skopeo docker-archive: loads with the manifest and config digests skopeo reports', async () => {
    const layout = join(dir, 'layout-src');
    await copyImage(
      await localImageSource(store.content, store.images, 'kiln-test/busybox:arm64'),
      new OciLayoutSink(layout),
      {
        tag: 'kiln-test/busybox:arm64',
      },
    );
    const file = join(dir, 'skopeo-docker.tar');
    tool('skopeo', ['copy', '-q', `oci:${layout}:arm64`, `docker-archive:${file}:example.com/bb:arm`]);
    const rawManifest = tool('skopeo', ['inspect', '--raw', `docker-archive:${file}`]);
    const rawConfig = tool('skopeo', ['inspect', '--config', '--raw', `docker-archive:${file}`]);
    const { store: s, result } = await loadInto(file);
    try {
      assert.equal(result.format, 'docker');
      assert.deepEqual(result.images[0].names, ['example.com/bb:arm']);
      assert.equal(result.images[0].root.digest, sha(rawManifest));
      const m = await loadManifest(s.content, result.images[0].root);
      assert.equal(m.config.digest, sha(rawConfig));
    } finally {
      s.close();
    }
  });

  it('skopeo oci-archive: of the whole index loads with the same digests', async () => {
    const layout = join(dir, 'layout-all');
    await copyImage(
      await localImageSource(store.content, store.images, 'kiln-test/busybox:latest'),
      new OciLayoutSink(layout),
      {
        tag: 'kiln-test/busybox:latest',
      },
    );
    const file = join(dir, 'skopeo-oci.tar');
    tool('skopeo', ['copy', '-q', '--all', `oci:${layout}:latest`, `oci-archive:${file}:example.com/bb:all`]);
    const { store: s, result } = await loadInto(file);
    try {
      assert.equal(result.format, 'oci');
      assert.deepEqual(result.images, [
        {
          names: ['example.com/bb:all'],
          root: { mediaType: bb.index.mediaType, digest: bb.index.digest, size: bb.index.size },
        },
      ]);
      for (const arch of ['amd64', 'arm64'] as const)
        assert.ok(await s.content.info(bb.manifests[arch].digest));
    } finally {
      s.close();
    }
  });

  it('a docker-archive skopeo wrote from a kiln docker archive loads back to the same config', async () => {
    const kilnFile = join(dir, 'kiln-docker.tar');
    await save(kilnFile, ['kiln-test/busybox:amd64'], 'docker');
    const file = join(dir, 'skopeo-redocker.tar');
    tool('skopeo', ['copy', '-q', `docker-archive:${kilnFile}`, `docker-archive:${file}:again/bb:1`]);
    const { store: s, result } = await loadInto(file);
    try {
      const m = await loadManifest(s.content, result.images[0].root);
      const orig = await loadManifest(store.content, bb.manifests.amd64);
      assert.equal(m.config.digest, orig.config.digest);
    } finally {
      s.close();
    }
  });
});
