import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/registry/client.ts';
import { getCredentials, storeCredentials } from '../../../src/registry/credentials.ts';
import { parseRegistryConfig } from '../../../src/registry/hosts.ts';
import { loginRegistry } from '../../../src/registry/login.ts';
import { pullImage } from '../../../src/registry/pull.ts';
import { pushImage } from '../../../src/registry/push.ts';
import { makeTestCertificates, startRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { startFaultProxy } from './fault-proxy.ts';
import { makeImage, tempStore } from './helpers.ts';
import { REFRESH_TOKEN, startTokenServer, type TokenServer } from './token-server.ts';

const SECRET = 'pa55-Secret-word';

function noSecret(err: unknown): void {
  const text = `${(err as Error).message} ${(err as { hint?: string }).hint ?? ''} ${String((err as Error).stack)}`;
  assert.ok(!text.includes(SECRET), 'the password must not appear in errors');
  assert.ok(!text.includes(Buffer.from(`alice:${SECRET}`).toString('base64')), 'nor its base64');
}

describe('Basic auth against an htpasswd registry', () => {
  let reg: TestRegistry;
  const store = tempStore();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-dockercfg-'));
  const cfgFile = join(dir, 'config.json');
  before(async () => {
    reg = await startRegistry({ htpasswd: { user: 'alice', password: SECRET } });
  });
  after(async () => {
    await reg.stop();
    store.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes and pulls with credentials from a docker config.json', async () => {
    await storeCredentials(reg.host, { username: 'alice', password: SECRET }, cfgFile);
    const saved = JSON.parse(readFileSync(cfgFile, 'utf8'));
    assert.equal(saved.auths[reg.host].auth, Buffer.from(`alice:${SECRET}`).toString('base64'));
    const client = new RegistryClient({ credentials: (h) => getCredentials(h, cfgFile) });
    const img = await makeImage(store, [4000]);
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/team/app:1`, { client });
    const other = tempStore();
    try {
      const pulled = await pullImage(`${reg.host}/team/app:1`, {
        client,
        content: other.content,
        images: other.images,
      });
      assert.equal(pulled.descriptor.digest, img.manifest.digest);
    } finally {
      other.cleanup();
    }
  });

  it('fails with REGISTRY_UNAUTHORIZED and a login hint without credentials', async () => {
    const client = new RegistryClient({ credentials: async () => undefined });
    await assert.rejects(
      client.getManifest(reg.host, 'team/app', '1'),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
        assert.match(err.hint ?? '', new RegExp(`kiln login ${reg.host}`));
        return true;
      },
    );
  });

  it('fails with REGISTRY_UNAUTHORIZED on a wrong password, never printing it', async () => {
    const client = new RegistryClient({
      credentials: async () => ({ username: 'alice', password: `${SECRET}-wrong` }),
    });
    await assert.rejects(client.getManifest(reg.host, 'team/app', '1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
      noSecret(err);
      return true;
    });
  });
});

describe('Bearer token auth (docker token spec)', () => {
  let reg: TestRegistry;
  let tokens: TokenServer;
  const store = tempStore();
  before(async () => {
    tokens = await startTokenServer({ user: 'alice', password: SECRET, expiresIn: 2 });
    reg = await startRegistry({
      tokenAuth: {
        realm: tokens.realm,
        service: tokens.service,
        issuer: tokens.issuer,
        rootCertBundle: tokens.rootCertBundle,
      },
    });
  });
  after(async () => {
    await reg.stop();
    await tokens.close();
    store.cleanup();
  });

  it('gets a pull,push token with credentials, caches it per scope, and refreshes it on expiry', async () => {
    const client = new RegistryClient({ credentials: async () => ({ username: 'alice', password: SECRET }) });
    const img = await makeImage(store, [3000, 2000]);
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/team/tok:1`, { client });
    const pushTokens = tokens.requests.filter((r) => r.scopes.includes('repository:team/tok:pull,push'));
    assert.equal(pushTokens.length, 1, 'one token serves the whole push');
    assert.equal(pushTokens[0].user, 'alice');

    // The token lives 2 s; kiln refreshes it before it runs out.
    await new Promise((r) => setTimeout(r, 1700));
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/team/tok:2`, { client });
    assert.equal(tokens.requests.filter((r) => r.scopes.includes('repository:team/tok:pull,push')).length, 2);
  });

  it('pulls anonymously with a pull-scoped token, and cannot push anonymously', async () => {
    const client = new RegistryClient({ credentials: async () => undefined });
    const other = tempStore();
    try {
      const pulled = await pullImage(`${reg.host}/team/tok:1`, {
        client,
        content: other.content,
        images: other.images,
      });
      assert.ok(pulled.descriptor.digest.startsWith('sha256:'));
      assert.ok(
        tokens.requests.some((r) => r.user === 'anonymous' && r.scopes.includes('repository:team/tok:pull')),
      );
      const img = await makeImage(other, [100]);
      await assert.rejects(
        pushImage({ root: img.manifest, blobs: other.content }, `${reg.host}/team/tok:anon`, { client }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
          assert.match(err.message, /repository team\/tok/);
          return true;
        },
      );
    } finally {
      other.cleanup();
    }
  });

  it('logs in by fetching a scope-less token for /v2/, refusing a bad password before saving it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-login-'));
    try {
      const file = join(dir, 'config.json');
      const client = new RegistryClient({ credentials: async () => undefined });
      await assert.rejects(
        loginRegistry(client, `http://${reg.host}/`, { username: 'alice', password: 'nope' }, file),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
          return true;
        },
      );
      assert.equal(await getCredentials(reg.host, file), undefined);
      assert.equal(
        await loginRegistry(client, reg.host, { username: 'alice', password: SECRET }, file),
        reg.host,
      );
      assert.deepEqual(await getCredentials(reg.host, file), { username: 'alice', password: SECRET });
      assert.ok(tokens.requests.some((r) => r.scopes.length === 0 && r.user === 'alice'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exchanges an identity (refresh) token for access with the OAuth2 POST grant', async () => {
    const client = new RegistryClient({ credentials: async () => ({ identityToken: REFRESH_TOKEN }) });
    const img = await makeImage(store, [700]);
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/team/idtok:1`, { client });
    assert.ok(
      tokens.requests.some((r) => r.user === 'alice' && r.scopes.includes('repository:team/idtok:pull,push')),
    );
  });

  it('fetches a new token when the registry rejects the cached one', async () => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const client = new RegistryClient({
        credentials: async () => ({ username: 'alice', password: SECRET }),
      });
      await client.getManifest(proxy.host, 'team/tok', '1');
      const before = tokens.requests.length;
      let rejected = false;
      proxy.rule = (req) => {
        if (!rejected && req.headers.authorization?.startsWith('Bearer ')) {
          rejected = true;
          return {
            status: 401,
            headers: {
              'www-authenticate': `Bearer realm="${tokens.realm}",service="${tokens.service}",scope="repository:team/tok:pull"`,
            },
          };
        }
        return undefined;
      };
      const m = await client.getManifest(proxy.host, 'team/tok', '1');
      assert.ok(rejected);
      assert.equal(m.descriptor.size, m.bytes.length);
      assert.equal(tokens.requests.length, before + 1, 'exactly one new token');
    } finally {
      await proxy.close();
    }
  });

  it('reports a token server refusing bad credentials, without the password', async () => {
    const client = new RegistryClient({
      credentials: async () => ({ username: 'alice', password: `${SECRET}x` }),
    });
    await assert.rejects(client.getManifest(reg.host, 'team/tok', '1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
      noSecret(err);
      return true;
    });
  });
});

describe('TLS registry with a self-signed CA', () => {
  let reg: TestRegistry;
  const certs = makeTestCertificates();
  const store = tempStore();
  before(async () => {
    reg = await startRegistry({ tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
  });
  after(async () => {
    await reg.stop();
    store.cleanup();
    rmSync(certs.dir, { recursive: true, force: true });
  });

  it('pushes and pulls when the CA is configured in the registry config', async () => {
    const tomlFile = join(certs.dir, 'registries.toml');
    writeFileSync(tomlFile, `[registry."${reg.host}"]\nca = ["${certs.caFile}"]\n`);
    const client = new RegistryClient({
      config: parseRegistryConfig(readFileSync(tomlFile, 'utf8')),
      credentials: async () => undefined,
    });
    const img = await makeImage(store, [5000]);
    await pushImage({ root: img.manifest, blobs: store.content }, `${reg.host}/tls/app:1`, { client });
    const other = tempStore();
    try {
      const pulled = await pullImage(`${reg.host}/tls/app:1`, {
        client,
        content: other.content,
        images: other.images,
      });
      assert.equal(pulled.descriptor.digest, img.manifest.digest);
    } finally {
      other.cleanup();
    }
  });

  it('refuses an untrusted certificate with a hint naming the config setting', async () => {
    const client = new RegistryClient({
      config: parseRegistryConfig(`[registry."${reg.host}"]\nhttp = false\n`),
      credentials: async () => undefined,
    });
    await assert.rejects(
      client.getManifest(reg.host, 'tls/app', '1'),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'REGISTRY_TLS');
        assert.match(err.hint ?? '', /ca = /);
        return true;
      },
    );
  });

  it('connects with insecure = true (skip verify)', async () => {
    const client = new RegistryClient({
      config: parseRegistryConfig(`[registry."${reg.host}"]\ninsecure = true\n`),
      credentials: async () => undefined,
    });
    const m = await client.getManifest(reg.host, 'tls/app', '1');
    assert.equal(m.descriptor.size, m.bytes.length);
  });

  it('explains a plain-HTTP client talking to a TLS port', async () => {
    const client = new RegistryClient({ credentials: async () => undefined, retry: { attempts: 1 } });
    await assert.rejects(client.getManifest(reg.host, 'tls/app', '1'), (err: Error & { code?: string }) => {
      assert.match(err.message, /tls\/app/);
      return true;
    });
  });
});
