/**
 * Bases resolve for the platform being built (issue 11): a name pulled for one platform of a
 * multi-platform image never serves another platform's build. The other platform is fetched
 * through the index the name was pulled from; a base with no manifest for the platform fails
 * with PLATFORM_NOT_FOUND naming what is wanted and what there is. Real registry, real runc, the
 * busybox fixtures for amd64 and arm64.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../../src/digest/digest.ts';
import { loadConfig, loadIndex, loadManifest, resolvePlatformManifest } from '../../../src/image/load.ts';
import type { ImageConfig } from '../../../src/oci/config.ts';
import { normalizeReference } from '../../../src/reference/reference.ts';
import { ClosureWalker } from '../../../src/store/closure.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { ensureBusyboxImages, type FixtureArch } from '../../../src/testing/fixtures.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { makeSentinel } from '../../security/sentinel.ts';
import { KILN } from './helpers.ts';

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function kiln(root: string, args: string[]): Ran {
  const r = spawnSync(KILN, args, {
    encoding: 'utf8',
    env: { ...process.env, KILN_ROOT: root, NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function ok(root: string, args: string[]): Ran {
  const r = kiln(root, args);
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

/** The config of the image `name` names (the manifest for `arch` when it names an index). */
async function configOf(store: Store, name: string, arch?: FixtureArch): Promise<ImageConfig> {
  const rec = await store.images.get(normalizeReference(name));
  assert.ok(rec, `${name} is stored`);
  let desc = rec.target;
  if (arch) {
    const index = await loadIndex(store.content, desc);
    const entry = index.manifests.find((m) => m.platform?.architecture === arch);
    assert.ok(entry, `${name} has an ${arch} entry`);
    desc = entry;
  }
  return loadConfig(store.content, await loadManifest(store.content, desc));
}

describe('base images resolve for the platform being built', () => {
  let reg: TestRegistry;
  let dir: string;
  let base: string;
  /** Each fixture platform's base layer, as its config's diff_id. */
  const diffIds = {} as Record<FixtureArch, Digest>;

  before(async () => {
    reg = await sharedRegistry();
    dir = mkdtempSync(join(tmpdir(), 'kiln-base-platform-'));
    base = `${reg.host}/base-platform/busybox:1`;
    const origin = join(dir, 'origin');
    await withStore(origin, async (store) => {
      const { index, manifests } = await ensureBusyboxImages(store);
      await store.images.put(base, index);
      for (const arch of ['amd64', 'arm64'] as const) {
        const config = await loadConfig(store.content, await loadManifest(store.content, manifests[arch]));
        diffIds[arch] = config.rootfs.diff_ids[0];
      }
    });
    assert.notEqual(diffIds.amd64, diffIds.arm64);
    ok(origin, ['push', base]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function context(name: string, dockerfile: string): string {
    const ctx = join(dir, name);
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    writeFileSync(join(ctx, 'f'), name);
    return ctx;
  }

  it('a base pulled for arm64 is not used for an amd64 build: the amd64 manifest is fetched through its index', async () => {
    const root = join(dir, 'pulled-arm64');
    const host = makeSentinel(join(dir, 'pulled-arm64-host'));
    ok(root, ['pull', '--platform', 'linux/arm64', base]);
    const ctx = context('ctx-amd64', `FROM ${base}\nRUN uname -m\n`);
    const built = ok(root, [
      'build',
      '--progress',
      'plain',
      '--platform',
      'linux/amd64',
      '-t',
      'arch/out:1',
      ctx,
    ]);
    assert.match(built.err, /\bx86_64\b/, 'RUN ran on the amd64 base');
    assert.doesNotMatch(built.err, /aarch64/);
    await withStore(root, async (store) => {
      const config = await configOf(store, 'arch/out:1');
      assert.equal(config.architecture, 'amd64');
      assert.equal(config.rootfs.diff_ids[0], diffIds.amd64, "the base layer is amd64's");
      // The name still points at what was pulled, and records the index it came from.
      const rec = await store.images.get(normalizeReference(base));
      assert.equal((await configOf(store, base)).architecture, 'arm64');
      assert.ok(rec?.index, 'the name records its index');
    });
    // What the build fetched is part of the pulled image: a prune keeps it (through the index
    // the name records), and the next amd64 build finds it in the store.
    ok(root, ['prune', '-f']);
    await withStore(root, async (store) => {
      const rec = await store.images.get(normalizeReference(base));
      const amd64 = await resolvePlatformManifest(
        { root: rec!.index!, blobs: store.content },
        {
          os: 'linux',
          architecture: 'amd64',
        },
      );
      const closure = new ClosureWalker(store.content).walk([amd64.descriptor]);
      assert.deepEqual(closure.missing, [], 'the amd64 manifest, config and layer are kept');
    });
    const again = ok(root, ['build', '-q', '--platform', 'linux/amd64', '-t', 'arch/out:2', ctx]);
    assert.match(again.out, /^sha256:/);
    host.assertUntouched();
  });

  it('a multi-platform push on a root holding the amd64 tag gives each index entry its own platform', async () => {
    const root = join(dir, 'pulled-amd64');
    const host = makeSentinel(join(dir, 'pulled-amd64-host'));
    ok(root, ['pull', '--platform', 'linux/amd64', base]);
    const out = `${reg.host}/base-platform/out:multi`;
    const ctx = context('ctx-multi', `FROM ${base}\nCOPY f /f\n`);
    ok(root, ['build', '-q', '--platform', 'linux/amd64,linux/arm64', '--push', '-t', out, ctx]);
    const check = join(dir, 'check-multi');
    ok(check, ['pull', '--platform', 'all', out]);
    await withStore(check, async (store) => {
      for (const arch of ['amd64', 'arm64'] as const) {
        const config = await configOf(store, out, arch);
        assert.equal(config.architecture, arch);
        assert.equal(config.rootfs.diff_ids[0], diffIds[arch], `the ${arch} entry's base layer is ${arch}'s`);
      }
    });
    host.assertUntouched();
  });

  it('a base with no manifest for the platform fails, naming the platform wanted and those there are', async () => {
    const root = join(dir, 'no-match');
    ok(root, ['pull', '--platform', 'linux/arm64', base]);
    const ctx = context('ctx-s390x', `FROM ${base}\nCOPY f /f\n`);
    const r = kiln(root, ['build', '-q', '--platform', 'linux/s390x', ctx]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^error: .*linux\/s390x.*\(offers: linux\/amd64, linux\/arm64\)/m);
    assert.match(r.err, /^hint: .+--platform/m);
    assert.doesNotMatch(r.err, /^\s+at /m);

    // A single-platform image with no index to look in, from a registry that cannot be reached.
    const single = '127.0.0.1:1/base-platform/busybox:arm64';
    await withStore(root, async (store) => {
      const { manifests } = await ensureBusyboxImages(store);
      await store.images.put(single, manifests.arm64);
    });
    const ctx2 = context('ctx-single', `FROM ${single}\nCOPY f /f\n`);
    const r2 = kiln(root, ['build', '-q', '--platform', 'linux/amd64', ctx2]);
    assert.equal(r2.code, 1, r2.err);
    assert.match(
      r2.err,
      /^error: .*base image 127\.0\.0\.1:1\/base-platform\/busybox:arm64 is for linux\/arm64 \(sha256:[a-f0-9]{64}\), not linux\/amd64, the platform being built; fetching it from .* failed/m,
    );
    assert.match(
      r2.err,
      /^hint: pull the image for linux\/amd64 \(kiln pull --platform linux\/amd64 .*\), or build for linux\/arm64/m,
    );
    assert.doesNotMatch(r2.err, /^\s+at /m);
  });
});
