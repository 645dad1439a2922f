/**
 * Named build contexts as whole filesystems: `--build-context name=DIR` with `FROM name` makes
 * the directory the stage's root filesystem (BuildKit resolves it to a local source), and editing
 * the directory misses the cache for the steps built on it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildContext, makeContext, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('pending');
});
after(() => suite.close());

describe('named build contexts in FROM', () => {
  it('a named context can replace an image in FROM', async () => {
    const extra = await makeContext(suite, { 'only.txt': 'only\n' });
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM replaced\nCOPY --from=replaced only.txt /again.txt\n',
    });
    const b = await buildContext(suite, ctx, { buildContexts: { replaced: extra } });
    assert.equal(read(b.fs, 'only.txt'), 'only\n');
    assert.equal(read(b.fs, 'again.txt'), 'only\n');
  });

  it('editing the directory misses the cache of the steps built on it', async () => {
    const extra = await makeContext(suite, { 'v.txt': 'one\n' });
    const ctx = await makeContext(suite, { Dockerfile: 'FROM base\nCOPY Dockerfile /df\n' });
    const before = await buildContext(suite, ctx, { buildContexts: { base: extra } });
    assert.equal(read(before.fs, 'v.txt'), 'one\n');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${extra}/v.txt`, 'two\n');
    const after = await buildContext(suite, ctx, { buildContexts: { base: extra } });
    assert.equal(read(after.fs, 'v.txt'), 'two\n');
  });
});
