/**
 * A travelling cache is hostile input (`--cache-from`): a record that breaks its schema, a layer
 * whose bytes are not its digest, and a cache-mount layer that tries to write outside its
 * directory (a symlink to the host, `..`) each give a warning and a correct build; nothing on
 * the host changes and the root stays sound.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { cacheMountDir } from '../../src/executor/run-mounts.ts';
import { seedBusybox } from '../../src/testing/fixtures.ts';
import { assertSound, runKiln, scratchDir, sentinel } from './helpers.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A layout directory holding one kiln cache artifact made of `layers` and `record`. */
function writeCache(dir: string, layers: { blob: Buffer; diffID: string }[], record: unknown): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const descs = layers.map((l) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: put(l.blob),
    size: l.blob.length,
  }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
      'dev.kiln.cache.v1': record,
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: put(config),
        size: config.length,
      },
      layers: descs,
      annotations: { 'dev.kiln.cache': 'v1' },
    }),
  );
  const m = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: m,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
}

/** A tar (made by Python's tarfile, which writes what it is told) with hostile members. */
function hostileTar(target: string, dotdot: boolean): Buffer {
  const script = `
import io, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    def add(name, data=None, link=None):
        i = tarfile.TarInfo(name)
        if link is not None:
            i.type = tarfile.SYMTYPE; i.linkname = link
            t.addfile(i)
        else:
            i.size = len(data); t.addfile(i, io.BytesIO(data))
    add('link', link=sys.argv[1])
    add('link/pwned', b'through the link\\n')
    if sys.argv[2] == '1': add('../outside', b'above the directory\\n')
    add('ok.txt', b'fine\\n')
sys.stdout.buffer.write(buf.getvalue())
`;
  return execFileSync('python3', ['-c', script, target, dotdot ? '1' : '0']);
}

let tmp: { dir: string; cleanup(): void };
let root: string;
let host: ReturnType<typeof sentinel>;
before(async () => {
  tmp = scratchDir('cache-import');
  host = sentinel(tmp.dir);
  root = join(tmp.dir, 'root');
  await seedBusybox(root);
});
after(() => {
  host.assertUntouched();
  tmp.cleanup();
});

const DOCKERFILE = 'FROM busybox\nRUN --mount=type=cache,id=m,target=/c ls /c > /listing && echo built\n';

describe('hostile cache imports', () => {
  /** `kiln build --cache-from type=local,src=CACHE` of a context holding just `dockerfile`. */
  const buildFrom = (cache: string, name: string, dockerfile: string) => {
    const ctx = join(tmp.dir, name);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    return runKiln(root, ['build', '--progress=plain', '--cache-from', `type=local,src=${cache}`, ctx]);
  };

  it('a record naming layers that are not there is a warning and a cold build', async () => {
    const cache = join(tmp.dir, 'bad-record');
    const blob = gzipSync(Buffer.alloc(1024));
    writeCache(cache, [{ blob, diffID: sha(Buffer.alloc(1024)) }], {
      layers: [{ digest: sha(blob), diffID: sha(Buffer.alloc(1024)), size: blob.length, mediaType: 'x' }],
      results: [{ key: `sha256:${'1'.repeat(64)}`, layers: [7] }],
    });
    const r = await buildFrom(cache, 'ctx1', DOCKERFILE);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /cache import from .*bad-record failed, building without it: .*names layer 7/);
  });

  it('a record whose links are not {key, target} digests is a warning and a cold build', async () => {
    const cache = join(tmp.dir, 'bad-links');
    writeCache(cache, [], {
      layers: [],
      results: [],
      links: [{ key: `sha256:${'2'.repeat(64)}`, target: '../../etc/passwd' }],
    });
    const r = await buildFrom(cache, 'ctx-links', DOCKERFILE);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /cache import from .*bad-links failed, building without it: .*link 0 is not \{key, target\}/,
    );
  });

  const mountCache = (name: string, dotdot: boolean) => {
    const cache = join(tmp.dir, name);
    const tar = hostileTar(host.dir, dotdot);
    const blob = gzipSync(tar);
    const layer = {
      digest: sha(blob),
      diffID: sha(tar),
      size: blob.length,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    };
    writeCache(cache, [{ blob, diffID: sha(tar) }], {
      layers: [layer],
      results: [],
      mounts: [{ id: name, layer: 0, uid: 0, gid: 0, mode: 0o4777 }],
    });
    return cache;
  };
  const buildWithMount = async (id: string, cache: string) => {
    const r = await buildFrom(
      cache,
      `ctx-${id}`,
      `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c ls /c > /listing\n`,
    );
    assert.equal(r.code, 0, r.err);
    // Nothing is beside the cache mounts' own directories.
    for (const entry of readdirSync(join(root, 'cache-mounts')))
      assert.match(entry, /^[0-9a-f]{32}$/, `stray ${entry} in cache-mounts`);
    return r;
  };

  it('a cache-mount layer with a member above its directory is refused with a warning', async () => {
    const r = await buildWithMount('up', mountCache('up', true));
    assert.match(
      r.err,
      /cache mount "up" from .* could not be restored: layer entry "\.\.\/outside" contains a "\.\." component/,
    );
    await assertSound(root);
  });

  it('a cache-mount layer writing through a symlink to the host stays inside its directory', async () => {
    const r = await buildWithMount('through', mountCache('through', false));
    const dir = cacheMountDir(root, 'through');
    // Restored, the link re-rooted inside it (the host is checked after the suite), and a setuid
    // bit the record asked for not given to the directory.
    assert.ok(existsSync(dir), r.err);
    assert.equal(readFileSync(join(dir, 'ok.txt'), 'utf8'), 'fine\n');
    assert.equal(statSync(dir).mode & 0o6000, 0);
    await assertSound(root);
  });
});
