import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dockerConfigPath, eraseCredentials, getCredentials, storeCredentials } from './credentials.ts';

describe('docker config credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-creds-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('honours DOCKER_CONFIG', () => {
    assert.equal(dockerConfigPath({ DOCKER_CONFIG: '/x/y', HOME: '/h' }), '/x/y/config.json');
    assert.equal(dockerConfigPath({ HOME: '/h' }), '/h/.docker/config.json');
  });

  it('reads auths in their various key spellings, and docker.io under the Hub key', async () => {
    const file = join(dir, 'a.json');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    writeFileSync(
      file,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') },
          'https://reg.example.com/v2/': { auth: b64('u:p') },
          'tok.example.com': { identitytoken: 'refresh' },
        },
      }),
    );
    assert.deepEqual(await getCredentials('docker.io', file), {
      username: 'hub',
      password: 'pw:with:colons',
    });
    assert.deepEqual(await getCredentials('reg.example.com', file), { username: 'u', password: 'p' });
    assert.deepEqual(await getCredentials('tok.example.com', file), { identityToken: 'refresh' });
    assert.equal(await getCredentials('other.io', file), undefined);
    assert.equal(await getCredentials('x.io', join(dir, 'missing.json')), undefined);
  });

  it('stores, reads back and erases credentials, keeping other settings, mode 0600', async () => {
    const file = join(dir, 'sub', 'config.json');
    await storeCredentials('localhost:5000', { username: 'me', password: 's3cret' }, file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    doc.experimental = 'keep-me';
    writeFileSync(file, JSON.stringify(doc));
    assert.deepEqual(await getCredentials('localhost:5000', file), { username: 'me', password: 's3cret' });
    assert.equal(await eraseCredentials('localhost:5000', file), true);
    assert.equal(await getCredentials('localhost:5000', file), undefined);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).experimental, 'keep-me');
    assert.equal(await eraseCredentials('localhost:5000', file), false);
  });

  it('uses credential helpers (credHelpers over credsStore) via docker-credential-<name>', async () => {
    const bin = join(dir, 'bin');
    const store = join(dir, 'helper-store');
    writeFileSync(store, '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin, { recursive: true });
    // A helper that keeps one secret per server in a file, speaking docker's helper protocol.
    const helper = `#!/bin/sh
read -r input
case "$1" in
  get) line=$(grep -F "$input " "${store}" | tail -1); [ -z "$line" ] && { echo "credentials not found in native keychain"; exit 1; }; echo "\${line#* }";;
  store) server=$(echo "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/'); echo "$server $input" >> "${store}";;
  erase) grep -vF "$input " "${store}" > "${store}.tmp"; mv "${store}.tmp" "${store}";;
esac
`;
    writeFileSync(join(bin, 'docker-credential-kilntest'), helper);
    chmodSync(join(bin, 'docker-credential-kilntest'), 0o755);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      const file = join(dir, 'helper.json');
      writeFileSync(
        file,
        JSON.stringify({ credsStore: 'nonexistent', credHelpers: { 'reg.io': 'kilntest' } }),
      );
      await storeCredentials('reg.io', { username: 'hu', password: 'hp' }, file);
      assert.ok(!readFileSync(file, 'utf8').includes('hp'), 'the secret stays in the helper');
      assert.deepEqual(await getCredentials('reg.io', file), { username: 'hu', password: 'hp' });
      await assert.rejects(getCredentials('other.io', file), /docker-credential-nonexistent/);
      await eraseCredentials('reg.io', file);
      assert.equal(await getCredentials('reg.io', file), undefined);
    } finally {
      process.env.PATH = oldPath;
    }
  });
});
