import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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

  it('leaves nothing behind when its process exits without stop()', async () => {
    const script = `import { startRegistry } from ${JSON.stringify(import.meta.resolve('./registry.ts'))};
      const reg = await startRegistry(); console.log(reg.storageDir); process.exit(0);`;
    const storage = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    }).trim();
    const dir = dirname(storage);
    assert.match(dir, /kiln-registry-/);
    for (let i = 0; i < 100 && existsSync(dir); i++) await sleep(50);
    assert.equal(existsSync(dir), false, `${dir} is still there`);
  });
});
