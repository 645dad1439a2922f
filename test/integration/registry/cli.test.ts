import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/registry/client.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { openStore } from '../../../src/store/store.ts';
import { sharedRegistry, startRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { makeImage, makeIndex } from './helpers.ts';

const KILN = join(import.meta.dirname, '../../../bin/kiln');

async function kiln(
  env: NodeJS.ProcessEnv,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return await new Promise((resolve) => {
    const child = execFile(KILN, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
    child.stdin?.end(input ?? '');
  });
}

describe('kiln pull / push / login / logout / manifest', () => {
  let reg: TestRegistry;
  let authReg: TestRegistry;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-reg-'));
  const env = { KILN_ROOT: join(dir, 'root-a'), DOCKER_CONFIG: join(dir, 'docker') };
  before(async () => {
    reg = await sharedRegistry();
    authReg = await startRegistry({ htpasswd: { user: 'bob', password: 'hunter2-secret' } });
  });
  after(async () => {
    await authReg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes a local image and pulls it into another root', async () => {
    const store = openStore(env.KILN_ROOT);
    const img = await makeImage(store, [3000]);
    await store.images.put(`${reg.host}/cli/app:1`, img.manifest);
    store.close();
    const push = await kiln(env, ['push', `${reg.host}/cli/app:1`]);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(push.stdout.trim(), `${reg.host}/cli/app:1@${img.manifest.digest}`);
    assert.match(push.stderr, /The push refers to repository/);

    // The same image under another repository of the registry is mounted, not uploaded.
    const tagged = await kiln(env, ['tag', `${reg.host}/cli/app:1`, `${reg.host}/cli/copy:1`]);
    assert.equal(tagged.code, 0, tagged.stderr);
    const mounted = await kiln(env, ['push', `${reg.host}/cli/copy:1`]);
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.match(mounted.stderr, /mounted from cli\/app/);

    const pull = await kiln({ ...env, KILN_ROOT: join(dir, 'root-b') }, ['pull', `${reg.host}/cli/app:1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(pull.stdout.trim(), `${reg.host}/cli/app:1`);
    assert.match(pull.stderr, new RegExp(`Digest: ${img.manifest.digest}`));
    const b = openStore(join(dir, 'root-b'));
    try {
      assert.equal((await b.images.get(`${reg.host}/cli/app:1`))?.target.digest, img.manifest.digest);
    } finally {
      b.close();
    }
  });

  it('pulls one platform out of an index with --platform, and by digest', async () => {
    const store = openStore(env.KILN_ROOT);
    const amd = await makeImage(store, [700], { os: 'linux', architecture: 'amd64' });
    const arm = await makeImage(store, [800], { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const index = await makeIndex(store, [amd.manifest, arm.manifest]);
    await pushImage({ root: index, blobs: store.content }, `${reg.host}/cli/plat:1`, {
      client: new RegistryClient({ credentials: async () => undefined }),
    });
    store.close();
    const rootC = join(dir, 'root-c');
    const pulled = await kiln({ ...env, KILN_ROOT: rootC }, [
      'pull',
      '--platform',
      'linux/arm64',
      `${reg.host}/cli/plat:1`,
    ]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stderr, new RegExp(`Digest: ${index.digest}`));
    const byDigest = await kiln({ ...env, KILN_ROOT: rootC }, [
      'pull',
      '-q',
      `${reg.host}/cli/plat@${amd.manifest.digest}`,
    ]);
    assert.equal(byDigest.stdout.trim(), `${reg.host}/cli/plat@${amd.manifest.digest}`);
    const c = openStore(rootC);
    try {
      assert.equal((await c.images.get(`${reg.host}/cli/plat:1`))?.target.digest, arm.manifest.digest);
      assert.ok(await c.content.info(amd.layers[0].digest), 'the digest pull fetched the amd64 layer');
    } finally {
      c.close();
    }
  });

  it('prints a registry error with its hint and exits non-zero', async () => {
    const r = await kiln(env, ['pull', `${reg.host}/cli/missing:nope`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /repository cli\/missing: HTTP 404/);
  });

  it('logs in with --password-stdin, uses the saved credentials, and logs out', async () => {
    const bad = await kiln(env, ['login', '-u', 'bob', '--password-stdin', authReg.host], 'wrong\n');
    assert.notEqual(bad.code, 0);
    assert.ok(!bad.stderr.includes('wrong') || !bad.stderr.includes('hunter2'));
    const ok = await kiln(env, ['login', '-u', 'bob', '--password-stdin', authReg.host], 'hunter2-secret\n');
    assert.equal(ok.code, 0, ok.stderr);
    const cfg = JSON.parse(readFileSync(join(env.DOCKER_CONFIG, 'config.json'), 'utf8'));
    assert.equal(Buffer.from(cfg.auths[authReg.host].auth, 'base64').toString(), 'bob:hunter2-secret');

    const store = openStore(env.KILN_ROOT);
    const img = await makeImage(store, [100]);
    await store.images.put(`${authReg.host}/private/app:1`, img.manifest);
    store.close();
    const push = await kiln(env, ['push', '-q', `${authReg.host}/private/app:1`]);
    assert.equal(push.code, 0, push.stderr);

    const out = await kiln(env, ['logout', authReg.host]);
    assert.match(out.stdout, /Removing login credentials/);
    const denied = await kiln(env, ['pull', `${authReg.host}/private/app:1`]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, new RegExp(`kiln login ${authReg.host.replace(/\./g, '\\.')}`));
  });

  it('creates, annotates, pushes and inspects a manifest list', async () => {
    const store = openStore(env.KILN_ROOT);
    const amd = await makeImage(store, [500], { os: 'linux', architecture: 'amd64' });
    const arm = await makeImage(store, [600], { os: 'linux', architecture: 'arm64' });
    await store.images.put(`${reg.host}/cli/amd:1`, amd.manifest);
    await store.images.put(`${reg.host}/cli/arm:1`, arm.manifest);
    store.close();
    for (const n of ['amd', 'arm'])
      assert.equal((await kiln(env, ['push', '-q', `${reg.host}/cli/${n}:1`])).code, 0);

    const list = `${reg.host}/cli/multi:1`;
    const created = await kiln(env, ['manifest', 'create', list, `${reg.host}/cli/amd:1`]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(
      (await kiln(env, ['manifest', 'create', list, `${reg.host}/cli/arm:1`])).code,
      1,
      'exists without --amend',
    );
    assert.equal((await kiln(env, ['manifest', 'create', '--amend', list, `${reg.host}/cli/arm:1`])).code, 0);
    const ann = await kiln(env, [
      'manifest',
      'annotate',
      list,
      `${reg.host}/cli/arm:1`,
      '--arch',
      'arm64',
      '--variant',
      'v8',
    ]);
    assert.equal(ann.code, 0, ann.stderr);
    const pushed = await kiln(env, ['manifest', 'push', list]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const digest = pushed.stdout.trim();

    const raw = await kiln(env, ['manifest', 'inspect', '--raw', `${reg.host}/cli/multi@${digest}`]);
    const index = JSON.parse(raw.stdout);
    assert.deepEqual(
      index.manifests.map((m: { digest: string; platform: unknown }) => [m.digest, m.platform]),
      [
        [amd.manifest.digest, { os: 'linux', architecture: 'amd64' }],
        [arm.manifest.digest, { os: 'linux', architecture: 'arm64' }],
      ],
    );
    const verbose = await kiln(env, ['manifest', 'inspect', '--verbose', list]);
    const entries = JSON.parse(verbose.stdout);
    assert.equal(entries.length, 2);
    assert.equal(entries[1].OCIManifest.layers[0].digest, arm.layers[0].digest);
  });
});
