/**
 * Hostile requests to kiln serve: a context whose Dockerfile or .dockerignore points out of the
 * context (a symlink to a host file) or is a FIFO reads nothing of the host and never hangs; a
 * body over --max-body is refused; tcp:// off loopback or without --insecure does not start.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN, request, type Served, serve, tarOf } from './helpers.ts';

describe('kiln serve with hostile requests', () => {
  let s: Served;
  let sentinel: string;
  const SECRET = 'FROM busybox\nLABEL leaked=host-secret\n';
  before(async () => {
    s = await serve('hostile', ['--max-body', '1MB']);
    // A host file outside the root that reads as a valid Dockerfile: building it would be a leak.
    sentinel = join(s.dir, 'sentinel.Dockerfile');
    writeFileSync(sentinel, SECRET);
  });
  after(async () => {
    assert.equal(readFileSync(sentinel, 'utf8'), SECRET);
    await s?.close();
  });

  it('a Dockerfile symlinked to a host file is resolved inside the context, not read from the host', async () => {
    const ctx = join(s.dir, 'evil-df');
    mkdirSync(ctx);
    symlinkSync(sentinel, join(ctx, 'Dockerfile'));
    const res = await request(s.socket, 'POST', '/v1.41/build?t=leak:1', tarOf(ctx));
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /Cannot locate specified Dockerfile: Dockerfile/);
    assert.notEqual(s.kiln(['image', 'inspect', 'leak:1']).code, 0);
  });

  it('a .dockerignore that is a FIFO or a symlink out of the context neither hangs nor reads the host', async () => {
    for (const kind of ['fifo', 'symlink']) {
      const ctx = join(s.dir, `evil-ignore-${kind}`);
      mkdirSync(ctx);
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx\n');
      writeFileSync(join(ctx, 'keep'), 'k');
      if (kind === 'fifo') spawnSync('mkfifo', [join(ctx, '.dockerignore')]);
      else symlinkSync(sentinel, join(ctx, '.dockerignore'));
      const res = await request(s.socket, 'POST', `/v1.41/build?t=ignore-${kind}:1`, tarOf(ctx));
      assert.equal(res.status, 200);
      assert.match(res.body, /"aux":\{"ID":"sha256:/, res.body);
    }
  });

  it('a context over --max-body is refused with 413', async () => {
    const ctx = join(s.dir, 'big');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\n');
    writeFileSync(join(ctx, 'big'), Buffer.alloc(2 << 20, 1));
    const res = await request(s.socket, 'POST', '/v1.41/build', tarOf(ctx));
    assert.equal(res.status, 413, res.body);
    assert.match(res.body, /the build context is larger than 1048576 bytes/);
  });

  it('an API version above the newest served is refused as dockerd refuses it', async () => {
    const res = await request(s.socket, 'GET', '/v9.99/version');
    assert.equal(res.status, 400);
    assert.match(res.body, /client version 9\.99 is too new/);
  });

  it('tcp:// without TLS client verification does not start, except on loopback with --insecure', () => {
    const env = { ...process.env, KILN_ROOT: s.root };
    const off = spawnSync(KILN, ['serve', '-H', 'tcp://0.0.0.0:0', '--insecure'], {
      encoding: 'utf8',
      env,
      timeout: 30_000,
    });
    assert.notEqual(off.status, 0);
    assert.match(off.stderr, /refusing to serve tcp:\/\/0\.0\.0\.0:0 without TLS client verification/);
    const plain = spawnSync(KILN, ['serve', '-H', 'tcp://127.0.0.1:0'], {
      encoding: 'utf8',
      env,
      timeout: 30_000,
    });
    assert.notEqual(plain.status, 0);
    assert.match(plain.stderr, /add --insecure/);
  });
});
