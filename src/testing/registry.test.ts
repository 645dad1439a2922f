import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRegistry } from './registry.ts';

describe('startRegistry', () => {
  it('starts a registry that answers /v2/ and stops it', async () => {
    const reg = await startRegistry();
    const res = await fetch(`${reg.url}/v2/`);
    assert.equal(res.status, 200);
    await reg.stop();
    await assert.rejects(fetch(`${reg.url}/v2/`));
  });

  it('starts an htpasswd registry that demands Basic auth', async () => {
    const reg = await startRegistry({ htpasswd: { user: 'u', password: 'p' } });
    try {
      const anon = await fetch(`${reg.url}/v2/`);
      assert.equal(anon.status, 401);
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic /);
      const ok = await fetch(`${reg.url}/v2/`, {
        headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
      });
      assert.equal(ok.status, 200);
    } finally {
      await reg.stop();
    }
  });
});
