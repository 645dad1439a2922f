import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readTar } from '../archive/tar/reader.ts';
import { sha256 } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';
import { importRootfs } from '../imagestore/import.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { openStore, type Store } from '../store/store.ts';
import { tarBytes } from '../testing/tar.ts';
import { loadArchive } from './load.ts';
import { writeArchive } from './save.ts';

let dirs: string[] = [];
const stores: Store[] = [];
async function newStore(): Promise<Store> {
  const d = await mkdtemp(join(tmpdir(), 'kiln-tarball-'));
  dirs.push(d);
  const s = openStore(d);
  stores.push(s);
  return s;
}
beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tarOf(
  files: Record<string, string | Buffer>,
  links: Record<string, string> = {},
): Promise<Buffer> {
  return tarBytes(async (w) => {
    for (const [path, data] of Object.entries(files)) await w.add({ path, type: 'file' }, Buffer.from(data));
    for (const [path, target] of Object.entries(links))
      await w.add({ path, type: 'symlink', linkname: target });
  });
}

async function bytesOf(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return Buffer.concat(parts);
}

async function makeImage(store: Store, name: string, arch: string, text: string): Promise<Descriptor> {
  const rootfs = await tarOf({ 'hello.txt': text });
  const res = await store.withLease((c) =>
    importRootfs(Readable.from([rootfs]), c, store.images, {
      name,
      platform: { os: 'linux', architecture: arch },
      created: new Date(0),
    }),
  );
  return { ...res.manifest, platform: { os: 'linux', architecture: arch } };
}

async function makeIndex(store: Store, name: string): Promise<Descriptor> {
  const amd = await makeImage(store, `${name}-amd64`, 'amd64', 'amd');
  const arm = await makeImage(store, `${name}-arm64`, 'arm64', 'arm');
  const bytes = encodeManifest({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, arm] });
  const info = await store.content.writeBlob(bytes);
  const desc = { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size };
  await store.images.put(name, desc);
  return desc;
}

async function load(store: Store, data: Buffer, tag?: string) {
  return store.withLease((c) => loadArchive(Readable.from([data]), c, store.images, { tag }));
}

describe('image archives', () => {
  it('docker format: save and load keep the manifest digest and every name', async () => {
    const a = await newStore();
    const root = await makeImage(a, 'app:1', 'amd64', 'v1');
    const tar = await bytesOf(
      writeArchive(
        a.content,
        [
          { name: 'app:1', root },
          { name: 'example.com/app:2', root },
        ],
        { format: 'docker' },
      ),
    );
    const names: string[] = [];
    for await (const e of readTar(Readable.from([tar]))) names.push(e.path);
    assert.ok(
      names.includes('manifest.json') &&
        names.includes('repositories') &&
        names.includes('index.json') &&
        names.includes('oci-layout'),
    );
    const b = await newStore();
    const res = await load(b, tar);
    assert.equal(res.format, 'docker');
    assert.equal(res.images[0].root.digest, root.digest);
    assert.deepEqual(res.images[0].names, ['docker.io/library/app:1', 'example.com/app:2']);
    assert.equal((await b.images.get('example.com/app:2'))?.target.digest, root.digest);
  });

  it('docker format saves the requested platform of a multi-platform image', async () => {
    const a = await newStore();
    await makeIndex(a, 'multi:1');
    const arm = (await a.images.get('multi:1-arm64'))!.target;
    const rec = (await a.images.get('multi:1'))!;
    const tar = await bytesOf(
      writeArchive(a.content, [{ name: rec.name, root: rec.target }], {
        format: 'docker',
        platform: { os: 'linux', architecture: 'arm64' },
      }),
    );
    const res = await load(await newStore(), tar);
    assert.equal(res.images[0].root.digest, arm.digest);
  });

  it('oci format: a multi-platform index round-trips with its digest and name', async () => {
    const a = await newStore();
    const index = await makeIndex(a, 'multi:1');
    const tar = await bytesOf(writeArchive(a.content, [{ name: 'multi:1', root: index }], { format: 'oci' }));
    const b = await newStore();
    const res = await load(b, gzipSync(tar));
    assert.equal(res.format, 'oci');
    assert.deepEqual(res.images, [{ names: ['docker.io/library/multi:1'], root: index }]);
    assert.equal((await b.content.info(index.digest))?.size, index.size);
  });

  it('a legacy docker save archive (<id>/layer.tar symlinks, <hex>.json config) loads', async () => {
    const layer = await tarOf({ 'etc/os-release': 'ID=test\n' });
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    });
    const cfgName = `${sha256(config).slice(7)}.json`;
    const manifest = JSON.stringify([
      { Config: cfgName, RepoTags: ['legacy:1'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] },
    ]);
    const tar = await tarOf(
      {
        [cfgName]: config,
        'aaaa/layer.tar': layer,
        'aaaa/json': '{}',
        'aaaa/VERSION': '1.0',
        'manifest.json': manifest,
      },
      { 'bbbb/layer.tar': '../aaaa/layer.tar' },
    );
    const b = await newStore();
    const res = await load(b, tar);
    const m = JSON.parse((await b.content.readBlob(res.images[0].root.digest)).toString());
    assert.equal(m.mediaType, MediaType.DockerManifest);
    assert.deepEqual(Object.keys(m.config), ['mediaType', 'size', 'digest']);
    assert.deepEqual(
      m.layers.map((l: Descriptor) => l.digest),
      [sha256(layer), sha256(layer)],
    );
    assert.deepEqual(res.images[0].names, ['docker.io/library/legacy:1']);
  });

  it('an archive that lacks a layer fails with ARCHIVE_INCOMPLETE and names nothing', async () => {
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    });
    const tar = await tarOf({
      'c.json': config,
      'manifest.json': JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['gone/layer.tar'] }]),
    });
    const b = await newStore();
    await assert.rejects(load(b, tar), (e) => hasCode(e, 'ARCHIVE_INCOMPLETE'));
    assert.deepEqual(await b.images.list(), []);
  });

  it('a blob whose bytes do not match its name is refused', async () => {
    const tar = await tarOf({
      [`blobs/sha256/${sha256('real').slice(7)}`]: 'fake',
      'index.json': '{"schemaVersion":2,"manifests":[]}',
    });
    await assert.rejects(load(await newStore(), tar), (e) => hasCode(e, 'DIGEST_MISMATCH'));
  });

  it('a tarball that is no image archive says so', async () => {
    const tar = await tarOf({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
    await assert.rejects(load(await newStore(), tar), (e) => hasCode(e, 'NOT_AN_IMAGE_ARCHIVE'));
  });

  it('--tag names the only image of an archive that names none', async () => {
    const a = await newStore();
    const root = await makeImage(a, 'app:1', 'amd64', 'v1');
    const tar = await bytesOf(writeArchive(a.content, [{ root }], { format: 'oci' }));
    const b = await newStore();
    const res = await load(b, tar, 'named:now');
    assert.deepEqual(res.images[0].names, ['docker.io/library/named:now']);
    assert.equal((await b.images.get('named:now'))?.target.digest, root.digest);
  });
});
