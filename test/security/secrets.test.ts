/**
 * Build secrets are bounded and never outlive their RUN (security issue 10, item 9): a source
 * that never ends (/dev/zero) or is too large fails at once with BuildKit's 500 KiB limit in
 * the message and without growing memory, a directory is refused by name, the value reaches no
 * layer, log or file under the root, and a kiln killed mid-RUN leaves nothing mounted for long:
 * the next kiln command unmounts the plaintext and kills the orphaned container.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kiln, makeContext, openSuite, type Suite, scratch } from '../integration/build/helpers.ts';
import {
  assertNoStack,
  entries,
  filesContaining,
  forceClean,
  mountsUnder,
  peakRss,
  runcContainers,
  startKiln,
  until,
} from './harness.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('sec-secrets');
});
after(async () => {
  forceClean(suite.root);
  await suite.close();
});

const LIMIT = 'the limit of 512000 bytes \\(500 KiB\\)';

describe('secret sources are bounded', () => {
  it('/dev/zero fails fast with the limit in the message, in bounded memory', async (t) => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=z wc -c /run/secrets/z\n',
    });
    const run = startKiln(suite, ['build', '--no-cache', '--secret', 'id=z,src=/dev/zero', ctx]);
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, peakRss(run.child.pid!));
      // Reading /dev/zero whole takes gigabytes before anything fails: stop it well before.
      if (peak > 512 << 20) run.child.kill('SIGKILL');
    }, 20);
    const r = await run.done;
    clearInterval(poll);
    t.diagnostic(`peak RSS ${peak >> 20} MiB, failed after ${r.ms} ms`);
    assert.ok(peak < 512 << 20, `kiln's memory stayed bounded (peak ${peak >> 20} MiB)`);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.err,
      new RegExp(`error: .*Dockerfile:2: secret "z" \\(/dev/zero\\) is larger than ${LIMIT}`),
    );
    assert.ok(r.ms < 30_000, `failed in ${r.ms} ms`);
    assertNoStack(r.err);
  });

  it('a 20 MB file fails before the build starts, saying the limit', async () => {
    const dir = await scratch(suite, 'big');
    await writeFile(join(dir, 'big'), Buffer.alloc(20 << 20, 1));
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=big wc -c /run/secrets/big\n',
    });
    const r = kiln(suite, ['build', '--no-cache', '--secret', `id=big,src=${join(dir, 'big')}`, ctx]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`error: secret "big" \\(.*big\\) is 20971520 bytes, over ${LIMIT}`));
    assertNoStack(r.err);
  });

  it('a secret of exactly the limit is mounted whole', async () => {
    const dir = await scratch(suite, 'limit');
    await writeFile(join(dir, 'max'), Buffer.alloc(512000, 7));
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=max wc -c < /run/secrets/max\n',
    });
    const r = kiln(suite, [
      'build',
      '--no-cache',
      '--progress',
      'plain',
      '--secret',
      `id=max,src=${join(dir, 'max')}`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /\b512000\n/);
  });

  it('a directory is refused by name, not with a bare EISDIR', async () => {
    const dir = await scratch(suite, 'dir');
    await mkdir(join(dir, 'keys'));
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=keys true\n',
    });
    const r = kiln(suite, ['build', '--no-cache', '--secret', `id=keys,src=${join(dir, 'keys')}`, ctx]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /error: secret "keys": .*keys is a directory, not a file\nhint: pass a file/);
    assertNoStack(r.err);
  });
});

describe('a secret leaves no trace', () => {
  it('the value is in no layer, log, output or file under the root, even mounted twice and as env', async () => {
    const token = randomBytes(24).toString('hex');
    const dir = await scratch(suite, 'trace');
    await writeFile(join(dir, 'token'), token);
    const ctx = await makeContext(suite, {
      Dockerfile: [
        'FROM busybox',
        // The same id at two targets and as an environment variable, in one RUN.
        'RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,target=/etc/tok --mount=type=secret,id=tok,env=TOK \\',
        '    cmp /run/secrets/tok /etc/tok && test "$TOK" = "$(cat /etc/tok)" && echo secret-used > /used',
        '',
      ].join('\n'),
    });
    const archive = join(dir, 'image.tar');
    const local = join(dir, 'rootfs');
    const r = kiln(suite, [
      'build',
      '--progress',
      'plain',
      '-t',
      'sec/trace:1',
      '--secret',
      `id=tok,src=${join(dir, 'token')}`,
      '-o',
      'type=image',
      '-o',
      `type=docker,dest=${archive}`,
      '-o',
      `type=local,dest=${local}`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(local, 'used'), 'utf8'), 'secret-used\n');
    const needle = Buffer.from(token);
    assert.ok(!r.err.includes(token) && !r.out.includes(token), 'not in the build log');
    assert.deepEqual(filesContaining(suite.root, needle), [], 'in no file under the root');
    assert.deepEqual(filesContaining(local, needle), [], 'not in the exported filesystem');
    assert.ok(!(await readFile(archive)).includes(needle), 'not in the exported archive');
    assert.deepEqual(entries(join(suite.root, 'run')), [], 'its tmpfs is gone');
    assert.deepEqual(mountsUnder(suite.root), []);
  });
});

describe('a kiln killed mid-RUN', () => {
  it('the next kiln command unmounts the secret, kills the container, and leaves no plaintext', async () => {
    const token = randomBytes(24).toString('hex');
    const dir = await scratch(suite, 'kill');
    await writeFile(join(dir, 'token'), token);
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=tok sleep 60\n',
    });
    const run = startKiln(suite, [
      'build',
      '--no-cache',
      '--progress',
      'plain',
      '--secret',
      `id=tok,src=${join(dir, 'token')}`,
      ctx,
    ]);
    await run.stderrShows('RUN --mount=type=secret,id=tok sleep 60');
    await until(() => runcContainers(suite.root).length === 1, 30_000, 'the RUN container');
    const tmpfs = () => mountsUnder(suite.root).filter((m) => !m.endsWith('/rootfs'));
    assert.equal(tmpfs().length, 1, 'the secrets tmpfs is mounted');
    run.child.kill('SIGKILL');
    await run.done;
    // What kill -9 leaves: the plaintext mounted, the container running on.
    assert.equal(tmpfs().length, 1);
    assert.equal(runcContainers(suite.root).length, 1);

    const r = kiln(suite, ['images']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(mountsUnder(suite.root), [], 'no mount is left under the root');
    assert.deepEqual(runcContainers(suite.root), [], 'the orphaned container is gone');
    assert.deepEqual(entries(join(suite.root, 'run')), []);
    assert.deepEqual(entries(join(suite.root, 'bundles')), []);
    assert.deepEqual(filesContaining(suite.root, Buffer.from(token)), [], 'the plaintext is nowhere');
    const fsck = kiln(suite, ['fsck']);
    assert.equal(fsck.code, 0, fsck.out + fsck.err);
  });
});
