/**
 * Paths in a build are hostile: context symlinks, archive entries, image symlinks and mount
 * sources must never reach the host outside the context and the rootfs. Each case builds for real
 * and checks both the image and the host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
  stat,
} from './helpers.ts';

let suite: Suite;
let marker: string;
before(async () => {
  suite = await openSuite('hostile');
  // A host file outside every context and rootfs, with content a leak would show.
  marker = join(suite.dir, 'host-secret.txt');
  await writeFile(marker, 'HOST SECRET\n');
});
after(() => suite.close());

describe('context symlinks', () => {
  it('COPY of a context symlink to a host path resolves it inside the context: not found, no leak', async () => {
    // As BuildKit: the source's symlinks are followed, but within the context root.
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY leak /leak\n' });
    await symlink(marker, join(ctx, 'leak'));
    await assert.rejects(buildContext(suite, ctx), /leak: not found/);
  });

  it('a symlink inside a copied directory is copied as a link, not as the host file', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY dir /dir\n', 'dir/x': 'x' });
    await symlink(marker, join(ctx, 'dir/leak'));
    const b = await buildContext(suite, ctx);
    const st = stat(b.fs, 'dir/leak');
    assert.equal(st.type, 'symlink');
    assert.equal(st.target, marker);
  });

  it('a source path through a context symlink to a host directory is resolved inside the context', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY up/host-secret.txt /got\n' });
    await symlink(suite.dir, join(ctx, 'up'));
    await assert.rejects(buildContext(suite, ctx), /not found/);
  });

  it('a bind mount source cannot climb out of the context', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nRUN --mount=type=bind,source=../host-secret.txt,target=/m cat /m > /got || true\n',
    });
    try {
      const b = await buildContext(suite, ctx);
      assert.ok(!exists(b.fs, 'got') || !read(b.fs, 'got').includes('HOST SECRET'));
    } catch (err) {
      assert.match((err as Error).message, /not found|outside|context/i);
    }
  });
});

describe('image symlinks', () => {
  it('COPY to a destination through an absolute symlink lands inside the rootfs', async () => {
    const hostTarget = join(suite.dir, 'copy-escape');
    await mkdir(hostTarget, { recursive: true });
    const b = await buildDockerfile(suite, `FROM busybox\nRUN ln -s ${hostTarget} /link\nCOPY f /link/f\n`, {
      f: 'inside\n',
    });
    assert.ok(!existsSync(join(hostTarget, 'f')), 'COPY wrote to the host');
    assert.equal(read(b.fs, `${hostTarget.slice(1)}/f`), 'inside\n');
  });

  it('WORKDIR through a symlink to / creates the directory inside the rootfs', async () => {
    const hostDir = join(suite.dir, 'workdir-escape');
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nRUN ln -s / /root-link\nWORKDIR /root-link${hostDir}\n`,
    );
    assert.ok(!existsSync(hostDir), 'WORKDIR created a host directory');
    assert.equal(stat(b.fs, hostDir.slice(1)).type, 'dir');
  });

  it('COPY --from a stage whose file is a symlink to a host path resolves it in that stage', async () => {
    await assert.rejects(
      buildDockerfile(
        suite,
        `FROM busybox AS evil\nRUN ln -s ${marker} /evil\nFROM busybox\nCOPY --from=evil /evil /copied\n`,
      ),
      /evil: not found/,
    );
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS evil\nRUN mkdir /d && ln -s ${marker} /d/evil\nFROM busybox\nCOPY --from=evil /d /d\n`,
    );
    assert.equal(stat(b.fs, 'd/evil').type, 'symlink');
  });
});

describe('archives', () => {
  it('ADD of a tar with ../ and absolute entries stays inside the destination rootfs', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nADD evil.tar /unpacked/\n' });
    const escapeName = `kiln-escape-${process.pid}`;
    const staging = join(suite.dir, 'tar-staging');
    await mkdir(join(staging, 'a'), { recursive: true });
    await writeFile(join(staging, 'a', 'ok.txt'), 'ok\n');
    await writeFile(join(staging, escapeName), 'escaped\n');
    execFileSync('tar', [
      '-cf',
      join(ctx, 'evil.tar'),
      '-C',
      staging,
      '--transform',
      `s|^${escapeName}$|../../../../../../../tmp/${escapeName}|`,
      '--absolute-names',
      'a/ok.txt',
      escapeName,
    ]);
    const listing = execFileSync('tar', ['-tf', join(ctx, 'evil.tar')], { encoding: 'utf8' });
    assert.match(listing, /\.\.\/\.\.\//, 'the archive really has a ../ entry');
    try {
      const b = await buildContext(suite, ctx);
      assert.equal(read(b.fs, 'unpacked/a/ok.txt'), 'ok\n');
    } catch (err) {
      assert.match((err as Error).message, /\.\.|outside|unsafe|escape/i);
    }
    assert.ok(!existsSync(`/tmp/${escapeName}`), 'ADD wrote outside the rootfs on the host');
    await rm(`/tmp/${escapeName}`, { force: true });
  });
});

describe('RUN cannot see the host', () => {
  it('the host marker file is not visible from a RUN', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox\nRUN cat ${marker} > /got 2>/dev/null || echo absent > /got\n`,
    );
    assert.equal(read(b.fs, 'got'), 'absent\n');
    assert.ok(readFileSync(marker, 'utf8').includes('HOST SECRET'));
  });
});
