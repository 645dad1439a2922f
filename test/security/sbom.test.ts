/**
 * `--sbom` scans the built image, and the image is hostile: a package database or manifest that
 * is a symlink to the host is resolved inside the image (so not found), a node_modules that is a
 * symlink to a host directory is never entered, a FIFO where a manifest belongs does not hang the
 * scan, and an oversized package database ends the build with FILE_TOO_LARGE. No host byte
 * reaches the SBOM; the sentinel is untouched.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeContext, openSuite, type Suite, scratch } from '../integration/build/helpers.ts';
import { assertCleanFailure, runKiln, sentinel } from './helpers.ts';

let suite: Suite;
let guard: { dir: string; assertUntouched(): void };
const HOST_PKG = 'host-only-package-9c1e';

before(async () => {
  suite = await openSuite('sec-sbom');
  guard = sentinel(suite.dir);
  // Packages on the host (beside the sentinel), where planted symlinks point.
  await writeFile(
    join(suite.dir, 'host-status'),
    `Package: ${HOST_PKG}\nStatus: install ok installed\nVersion: 1\n`,
  );
});
after(async () => {
  guard.assertUntouched();
  await suite.close();
});

describe('the SBOM scanner on a hostile image', () => {
  it('reads nothing of the host and does not hang on FIFOs', async () => {
    const hostModules = join(suite.dir, 'host-modules');
    await mkdir(join(hostModules, HOST_PKG), { recursive: true });
    await writeFile(
      join(hostModules, HOST_PKG, 'package.json'),
      JSON.stringify({ name: HOST_PKG, version: '1.0.0' }),
    );
    const ctx = await makeContext(suite, {
      Dockerfile: [
        'FROM busybox',
        `RUN mkdir -p /var/lib/dpkg /app /opt /srv/node_modules/fifo /py/x-1.dist-info && \\`,
        `    ln -s ${join(suite.dir, 'host-status')} /var/lib/dpkg/status && \\`,
        `    ln -s ${hostModules} /app/node_modules && \\`,
        `    ln -s ${guard.dir} /opt/node_modules && \\`,
        '    mkfifo /srv/node_modules/fifo/package.json /py/x-1.dist-info/METADATA',
        '',
      ].join('\n'),
    });
    const dest = join(await scratch(suite, 'layout'), 'out');
    const r = await runKiln(
      suite.root,
      ['build', '-q', '--sbom', '-o', `type=oci,dest=${dest},tar=false`, ctx],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.signal, null, `kiln hung or died:\n${r.err}`);
    assert.equal(r.code, 0, r.err);
    const blob = (d: string) => readFile(join(dest, 'blobs', 'sha256', d.slice('sha256:'.length)), 'utf8');
    const index = JSON.parse(
      await blob(JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')).manifests[0].digest),
    );
    const att = index.manifests.find((m: { platform: { os: string } }) => m.platform.os === 'unknown');
    const statement = await blob(JSON.parse(await blob(att.digest)).layers[0].digest);
    assert.doesNotMatch(statement, new RegExp(HOST_PKG));
    assert.deepEqual(JSON.parse(statement).predicate.packages, []);
  });

  it('an oversized package database fails the build clearly', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN mkdir -p /lib/apk/db && truncate -s 65M /lib/apk/db/installed\n',
    });
    const dest = join(await scratch(suite, 'big'), 'out');
    const r = await runKiln(suite.root, [
      'build',
      '-q',
      '--sbom',
      '-o',
      `type=oci,dest=${dest},tar=false`,
      ctx,
    ]);
    assertCleanFailure(r, /lib\/apk\/db\/installed in the root is \d+ bytes, more than/);
  });
});
