import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Descriptor } from '../../../src/oci/descriptor.ts';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { anonymous, makeImage, tempStore } from './helpers.ts';

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<Buffer> {
  try {
    const { stdout } = await run('skopeo', args, { encoding: 'buffer', maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error('skopeo is not installed: apt-get install -y skopeo (or run scripts/setup.sh)');
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

describe('interoperability with skopeo', () => {
  let reg: TestRegistry;
  const store = tempStore();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-skopeo-'));
  before(async () => {
    reg = await sharedRegistry();
  });
  after(() => {
    store.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an image pushed by kiln reads back byte-identical with skopeo inspect --raw', async () => {
    const client = new RegistryClient({ credentials: anonymous });
    const img = await makeImage(store, [20_000, 300], { os: 'linux', architecture: 'amd64' }, true);
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/interop/kiln-pushed:1`, {
      client,
    });
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/interop/kiln-pushed:1`,
    );
    assert.deepEqual(raw, await store.content.readBlob(img.manifest.digest));
    const cfg = await skopeo(
      'inspect',
      '--config',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/interop/kiln-pushed:1`,
    );
    assert.deepEqual(cfg, await store.content.readBlob(img.config.digest));
  });

  it('an image pushed by skopeo pulls into kiln with the same digests', async () => {
    // An OCI layout written by hand from a kiln-made image is skopeo's source.
    const img = await makeImage(store, [50_000]);
    const layout = join(dir, 'layout');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    for (const d of [...img.layers, img.config, img.manifest] as Descriptor[]) {
      writeFileSync(
        join(layout, 'blobs', 'sha256', d.digest.slice(7)),
        await store.content.readBlob(d.digest),
      );
    }
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const { platform: _p, ...entry } = img.manifest;
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...entry, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
      }),
    );
    await skopeo(
      'copy',
      '--quiet',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      `docker://${reg.host}/interop/skopeo-pushed:v1`,
    );
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/interop/skopeo-pushed:v1`,
    );
    const rawDigest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;

    const dst = tempStore();
    try {
      const pulled = await pullImage(`${reg.host}/interop/skopeo-pushed:v1`, {
        client: new RegistryClient({ credentials: anonymous }),
        content: dst.content,
        images: dst.images,
      });
      assert.equal(pulled.descriptor.digest, rawDigest);
      assert.equal(pulled.descriptor.digest, img.manifest.digest);
      for (const l of img.layers) assert.equal((await dst.content.info(l.digest))?.size, l.size);
    } finally {
      dst.cleanup();
    }
  });
});
