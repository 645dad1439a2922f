import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { looksSecret } from './secrets-lint.ts';
import { convert } from './testing.ts';

const secretWarnings = (r: Awaited<ReturnType<typeof convert>>) =>
  r.warnings.filter((w) => w.rule === 'SecretsUsedInArgOrEnv').map((w) => [w.message, w.location?.startLine]);

describe('SecretsUsedInArgOrEnv', () => {
  it('warns for each secret-looking ARG and ENV key, at its line (BuildKit’s lint test)', async () => {
    const r = await convert(
      `
FROM scratch
ARG SECRET_PASSPHRASE
ENV SUPER_Secret=foo
ENV password=bar secret=baz
ARG super_duper_secret_token=foo auth=bar
ENV apikey=bar sunflower=foo
ENV git_key=
`,
      { file: 'S.Dockerfile' },
    );
    const msg = (ins: string, key: string) =>
      `Do not use ARG or ENV instructions for sensitive data (${ins} "${key}")`;
    assert.deepEqual(secretWarnings(r), [
      [msg('ARG', 'SECRET_PASSPHRASE'), 3],
      [msg('ENV', 'SUPER_Secret'), 4],
      [msg('ENV', 'password'), 5],
      [msg('ENV', 'secret'), 5],
      [msg('ARG', 'super_duper_secret_token'), 6],
      [msg('ARG', 'auth'), 6],
      [msg('ENV', 'apikey'), 7],
      [msg('ENV', 'git_key'), 8],
    ]);
    const first = r.warnings.find((w) => w.rule === 'SecretsUsedInArgOrEnv');
    assert.equal(first?.url, 'https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/');
    assert.equal(first?.location?.file, 'S.Dockerfile');
  });

  it('leaves keys alone whose secret word is only part of a word, or that are public, files or versions', async () => {
    const r = await convert(
      'FROM scratch\nENV MONKEY=1 KEYBOARD=2 AUTHOR=me TOKENS=3 SECRETARY=4 PASSWORD2=5\n' +
        'ARG PUBLIC_KEY\nARG SSH_KEY_FILE=/k\nENV NODE_AUTH_VERSION=2 GPG_KEY_PUBLIC=x\n',
    );
    assert.deepEqual(secretWarnings(r), []);
  });

  it('checks the ARG and ENV of the stages a build runs, not global ARGs or unreachable stages', async () => {
    const r = await convert(
      'ARG REGISTRY_TOKEN=x\nFROM scratch AS unused\nENV DB_PASSWORD=x\nFROM scratch\nENV API_KEY value\n',
    );
    assert.deepEqual(secretWarnings(r), [
      ['Do not use ARG or ENV instructions for sensitive data (ENV "API_KEY")', 5],
    ]);
  });

  it('matches words as Go’s case-insensitive regexp does', () => {
    for (const key of ['TOKEN', 'my_token', 'Credentials_X', 'X_PWORD', 'a_passwd_b', '\u212AEY', 'ſecret'])
      assert.ok(looksSecret(key), key);
    for (const key of ['', '_', 'tok_en', 'keys', 'key-file', 'MY_KEY_FILE', 'token_public'])
      assert.equal(looksSecret(key), false, key);
  });
});
