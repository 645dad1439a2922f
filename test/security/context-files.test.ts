/**
 * The files kiln reads from a context before the build (its Dockerfile and .dockerignore) are the
 * context's: a symlink there leads only inside the context, never to a host file, for a context
 * tar on stdin and a context directory alike.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKiln, scratchDir } from './helpers.ts';
import { makeSentinel, SECRET, type Sentinel } from './sentinel.ts';

let tmp: { dir: string; cleanup(): void };
let guard: Sentinel;
before(() => {
  tmp = scratchDir('sec-context-files');
  guard = makeSentinel(join(tmp.dir, 'sentinel'));
});
after(() => {
  guard.assertUntouched();
  tmp.cleanup();
});

describe('context files read before the build', () => {
  it('a Dockerfile in a context tar that links to a host file is not read through the link', async () => {
    const ctx = join(tmp.dir, 'tar-ctx');
    mkdirSync(ctx);
    symlinkSync(join(guard.dir, 'secret'), join(ctx, 'Dockerfile'));
    const tar = execFileSync('tar', ['-C', ctx, '-c', '.']);
    const root = join(tmp.dir, 'root-1');
    const r = await runKiln(
      root,
      ['build', '--progress', 'plain', '-o', `type=local,dest=${join(tmp.dir, 'o1')}`, '-'],
      {
        input: tar.toString('latin1'),
      },
    );
    assert.notEqual(r.code, 0, 'a Dockerfile that leads out of the context was read');
    assert.match(r.err, /Dockerfile .* is a symlink to ".*", which is not in the context/);
    assert.doesNotMatch(r.err + r.out, new RegExp(SECRET), 'host file content reached the output');
  });

  it('a .dockerignore in a context directory that links to a host file is not read through the link', async () => {
    const ctx = join(tmp.dir, 'dir-ctx');
    mkdirSync(ctx);
    // The host file, read as ignore patterns, would keep keep.txt out of the context.
    const hostIgnore = join(tmp.dir, 'host-ignore');
    writeFileSync(hostIgnore, 'keep.txt\n');
    symlinkSync(hostIgnore, join(ctx, '.dockerignore'));
    writeFileSync(join(ctx, 'keep.txt'), 'kept\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY keep.txt /\n');
    const out = join(tmp.dir, 'o2');
    const r = await runKiln(join(tmp.dir, 'root-2'), [
      'build',
      '--progress',
      'plain',
      '-o',
      `type=local,dest=${out}`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(join(out, 'keep.txt')), 'the host file was used as the .dockerignore');
  });

  it('a .dockerignore that is a FIFO does not stop the build', async () => {
    const ctx = join(tmp.dir, 'fifo-ctx');
    mkdirSync(ctx);
    execFileSync('mkfifo', [join(ctx, '.dockerignore')]);
    writeFileSync(join(ctx, 'a'), 'a\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /\n');
    const r = await runKiln(
      join(tmp.dir, 'root-3'),
      ['build', '--progress', 'plain', '-o', `type=local,dest=${join(tmp.dir, 'o3')}`, ctx],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.signal, null, 'kiln hung reading the FIFO');
    assert.equal(r.code, 0, r.err);
  });
});
