/**
 * A RUN --mount=type=bind of the build context shows only what the build may read: files that
 * .dockerignore (or <Dockerfile>.dockerignore) keeps out of the context are not there, as they are
 * never in BuildKit's context. Written as a read-only mount, a writable one, a subdirectory source
 * and a named context.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildContext, makeContext, openSuite, read, type Suite } from '../integration/build/helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('sec-ctx-mount');
});
after(() => suite.close());

const SECRET = 'IGNORED-SECRET-91c2';

async function context(dockerfile: string, ignore: string, ignoreName = '.dockerignore') {
  const ctx = await makeContext(suite, {
    Dockerfile: dockerfile,
    [ignoreName]: ignore,
    'app/main.js': 'console.log(1)\n',
    'app/.env': `TOKEN=${SECRET}\n`,
    'secret.txt': `${SECRET}\n`,
    '.git/config': `[remote] url = https://user:${SECRET}@example.org\n`,
  });
  await mkdir(join(ctx, 'app', 'cache'), { recursive: true });
  await writeFile(join(ctx, 'app', 'cache', 'blob'), SECRET);
  return ctx;
}

describe('a bind mount of the context honours .dockerignore', () => {
  it('read-only mount of the whole context', async () => {
    const ctx = await context(
      'FROM busybox\nRUN --mount=type=bind,target=/ctx sh -c "find /ctx | sort > /list; cat /ctx/secret.txt /ctx/.git/config /ctx/app/.env > /leak 2>/dev/null; true"\n',
      'secret.txt\n.git\n**/.env\napp/cache\n',
    );
    const b = await buildContext(suite, ctx);
    const list = read(b.fs, 'list');
    assert.match(list, /\/ctx\/app\/main\.js/);
    for (const hidden of ['secret.txt', '.git', '.env', 'cache'])
      assert.doesNotMatch(list, new RegExp(`/${hidden.replace('.', '\\.')}(\\n|/)`));
    assert.doesNotMatch(read(b.fs, 'leak'), new RegExp(SECRET));
  });

  it('writable mount of a subdirectory', async () => {
    const ctx = await context(
      'FROM busybox\nRUN --mount=type=bind,source=app,target=/app,rw sh -c "ls -a /app > /list; cat /app/.env > /leak 2>/dev/null; touch /app/new; true"\n',
      '**/.env\n',
    );
    const b = await buildContext(suite, ctx);
    assert.doesNotMatch(read(b.fs, 'list'), /\.env/);
    assert.match(read(b.fs, 'list'), /main\.js/);
    assert.doesNotMatch(read(b.fs, 'leak'), new RegExp(SECRET));
  });

  it('a Dockerfile-specific ignore file applies too', async () => {
    const ctx = await context(
      'FROM busybox\nRUN --mount=type=bind,target=/ctx sh -c "cat /ctx/secret.txt > /leak 2>/dev/null; ls /ctx > /list; true"\n',
      'secret.txt\n',
      'Dockerfile.dockerignore',
    );
    const b = await buildContext(suite, ctx, { dockerfile: join(ctx, 'Dockerfile') });
    assert.doesNotMatch(read(b.fs, 'leak'), new RegExp(SECRET));
    assert.match(read(b.fs, 'list'), /app/);
  });

  it('the ignored file is really there on the host (the probe can see it when not ignored)', async () => {
    const ctx = await context(
      'FROM busybox\nRUN --mount=type=bind,target=/ctx cat /ctx/secret.txt > /leak\n',
      '',
    );
    const b = await buildContext(suite, ctx);
    assert.match(read(b.fs, 'leak'), new RegExp(SECRET));
  });
});
