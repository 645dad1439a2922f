/**
 * Every output type of `kiln build`, judged by independent tools where one exists: skopeo for
 * OCI and docker archives and for the registry, umoci for unpacking an OCI layout, GNU tar for
 * rootfs tars, and kiln's own image store for type=image.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readLayerFiles } from '../../../src/archive/layer.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import {
  type Built,
  buildContext,
  kiln,
  makeContext,
  openSuite,
  read,
  type Suite,
  scratch,
  stat,
} from './helpers.ts';

let suite: Suite;
let ctx: string;
let reg: TestRegistry;

const DOCKERFILE = `FROM busybox
RUN echo built > /built && chmod 0640 /built && chown 1000:1000 /built
COPY file.txt /file.txt
LABEL purpose=outputs
CMD ["cat", "/built"]
`;

function tool(name: string): void {
  const r = spawnSync('which', [name]);
  assert.equal(r.status, 0, `${name} is needed to judge the output: run bash scripts/setup.sh`);
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  for (const t of ['skopeo', 'umoci', 'tar']) tool(t);
  suite = await openSuite('outputs');
  ctx = await makeContext(suite, { Dockerfile: DOCKERFILE, 'file.txt': 'from the context\n' });
  reg = await sharedRegistry();
});
after(() => suite.close());

describe('type=image', () => {
  let b: Built;
  before(async () => {
    b = await buildContext(suite, ctx, { tags: ['kiln-spec/outputs:v1', 'kiln-spec/outputs:latest'] });
  });

  it('names the image in the store with every tag', async () => {
    for (const t of ['kiln-spec/outputs:v1', 'kiln-spec/outputs:latest']) {
      const rec = await suite.store.images.get(normalizeReference(t));
      assert.ok(rec, `${t} is in the store`);
      assert.equal(rec.target.digest, b.result.root?.digest);
    }
  });

  it('the image ID is the config digest, as docker prints it', () => {
    assert.equal(b.result.imageId, b.image.manifest.config.digest);
  });

  it("keeps the built layers uncompressed, as Docker's own store does", () => {
    const built = b.image.manifest.layers.slice(-2);
    for (const l of built) assert.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar');
    // An uncompressed layer's digest is its diffID.
    assert.deepEqual(
      built.map((l) => l.digest),
      b.image.config.rootfs.diff_ids.slice(-2),
    );
  });
});

describe('type=oci', () => {
  let dest: string;
  let b: Built;
  before(async () => {
    dest = join(await scratch(suite, 'oci'), 'image.tar');
    b = await buildContext(suite, ctx, {
      output: [`type=oci,dest=${dest},name=kiln-spec/oci:1`],
      noLocal: true,
    });
  });

  it('skopeo reads the archive: config, layers and labels', () => {
    const info = JSON.parse(run('skopeo', ['inspect', `oci-archive:${dest}`]));
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Labels.purpose, 'outputs');
    assert.equal(info.Layers.length, 3);
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci-archive:${dest}`]));
    assert.deepEqual(cfg.config.Cmd, ['cat', '/built']);
  });

  it('the manifest uses OCI media types', () => {
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci-archive:${dest}`]));
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(raw.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.ok(
      raw.layers.every(
        (l: { mediaType: string }) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip',
      ),
    );
    assert.equal(b.result.root?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  it('umoci unpacks the layout into the built filesystem, owners and modes intact', async () => {
    const dir = await scratch(suite, 'umoci');
    const layout = join(dir, 'layout');
    await mkdir(layout);
    run('tar', ['-xf', dest, '-C', layout]);
    const index = JSON.parse(read(layout, 'index.json'));
    const tag = index.manifests[0].annotations['org.opencontainers.image.ref.name'];
    assert.ok(tag, 'the layout names its image');
    run('umoci', ['unpack', '--image', `${layout}:${tag}`, join(dir, 'bundle')]);
    const rootfs = join(dir, 'bundle', 'rootfs');
    assert.deepEqual(stat(rootfs, 'built'), {
      type: 'file',
      mode: 0o640,
      uid: 1000,
      gid: 1000,
      content: 'built\n',
      target: undefined,
    });
    assert.equal(read(rootfs, 'file.txt'), 'from the context\n');
    assert.equal(stat(rootfs, 'bin/sh').type, 'symlink');
  });

  it('tar=false writes a layout directory instead', async () => {
    const dir = join(await scratch(suite, 'ocidir'), 'layout');
    await buildContext(suite, ctx, { output: [`type=oci,dest=${dir},tar=false`], noLocal: true });
    const entries = (await readdir(dir)).sort();
    assert.deepEqual(entries, ['blobs', 'index.json', 'oci-layout']);
    const info = JSON.parse(run('skopeo', ['inspect', `oci:${dir}`]));
    assert.equal(info.Layers.length, 3);
  });
});

describe('type=docker', () => {
  it('skopeo reads a docker-archive with the tag and Docker media types', async () => {
    const dest = join(await scratch(suite, 'docker'), 'image.tar');
    await buildContext(suite, ctx, {
      output: [`type=docker,dest=${dest}`],
      tags: ['kiln-spec/docker:v2'],
      noLocal: true,
    });
    const info = JSON.parse(
      run('skopeo', ['inspect', `docker-archive:${dest}:docker.io/kiln-spec/docker:v2`]),
    );
    assert.equal(info.Labels.purpose, 'outputs');
    assert.equal(info.Layers.length, 3);
    const manifest = JSON.parse(run('tar', ['-xOf', dest, 'manifest.json']));
    assert.deepEqual(manifest[0].RepoTags, ['kiln-spec/docker:v2']);
  });
});

describe('type=local and type=tar', () => {
  it('type=local writes the final filesystem with owners, modes and links', async () => {
    const b = await buildContext(suite, ctx);
    assert.deepEqual(stat(b.fs, 'built'), {
      type: 'file',
      mode: 0o640,
      uid: 1000,
      gid: 1000,
      content: 'built\n',
      target: undefined,
    });
    assert.equal(stat(b.fs, 'bin/sh').target, '/bin/busybox');
    assert.equal(stat(b.fs, 'tmp').mode, 0o1777);
  });

  it('a build with only filesystem outputs exports no layer and names no image', async () => {
    const b = await buildContext(suite, ctx, { noImage: true });
    assert.equal(read(b.fs, 'built'), 'built\n');
    assert.equal(b.result.root, undefined);
    assert.equal(b.result.imageId, undefined);
    const exported = b.events.filter((e) => e.type === 'status' && e.name.startsWith('exporting layer'));
    assert.deepEqual(exported, []);
  });

  it('type=tar writes the filesystem as one tar', async () => {
    const dest = join(await scratch(suite, 'tar'), 'rootfs.tar');
    await buildContext(suite, ctx, { output: [`type=tar,dest=${dest}`], noLocal: true });
    const files = await readLayerFiles(createReadStream(dest));
    const built = files.find((f) => f.path === 'built');
    assert.ok(built);
    assert.deepEqual([built.mode & 0o7777, built.uid, built.gid], [0o640, 1000, 1000]);
    assert.ok(files.some((f) => f.path === 'file.txt'));
    assert.ok(files.some((f) => f.path === 'bin/busybox'));
    const listing = run('tar', ['-tf', dest]);
    assert.match(listing, /(^|\n)(\.\/)?bin\/busybox\n/);
  });
});

describe('type=registry', () => {
  it('--push (type=image,push=true) uploads the image; skopeo inspects it from the registry', async () => {
    const name = `${reg.host}/kiln-spec/pushed:one`;
    const b = await buildContext(suite, ctx, {
      output: ['type=image,push=true'],
      tags: [name],
      noLocal: true,
    });
    const info = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`]));
    assert.equal(info.Digest, b.result.root?.digest);
    assert.equal(info.Labels.purpose, 'outputs');
    assert.ok(await suite.store.images.get(normalizeReference(name)), 'push also names it locally');
  });

  it('kiln push gzips the layers a build stored uncompressed; the image ID stays', async () => {
    const name = `${reg.host}/kiln-spec/pushed:later`;
    const b = await buildContext(suite, ctx, { tags: [name], noLocal: true });
    const pushed = kiln(suite, ['push', name]);
    assert.equal(pushed.code, 0, pushed.err);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`]));
    assert.equal(raw.config.digest, b.result.imageId);
    for (const l of raw.layers)
      assert.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    // skopeo verifies every blob's digest while copying; umoci then checks each diffID.
    const dest = await scratch(suite, 'pulled');
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${name}`, `oci:${dest}/layout:x`]);
    run('umoci', ['unpack', '--image', `${dest}/layout:x`, `${dest}/bundle`]);
    assert.equal(read(join(dest, 'bundle', 'rootfs'), 'file.txt'), 'from the context\n');
  });

  it('type=registry pushes a multi-platform index', async () => {
    const name = `${reg.host}/kiln-spec/multi:two`;
    const b = await buildContext(suite, ctx, {
      output: [`type=registry,name=${name}`],
      noLocal: true,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`]));
    assert.equal(raw.manifests.length, 2);
    assert.deepEqual(
      raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture).sort(),
      ['amd64', 'arm64'],
    );
    const arm = JSON.parse(
      run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${name}`]),
    );
    assert.equal(arm.Architecture, 'arm64');
    assert.equal(b.result.platforms.length, 2);
  });
});
