/**
 * buildah as an independent judge: it pulls and reads an image `kiln commit` made (pushed to the
 * test registry), and kiln makes a working container from an image buildah committed and pushed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { type CliRoot, cliRoot } from '../cli/helpers.ts';

let r: CliRoot;
let reg: TestRegistry;
before(async () => {
  r = await cliRoot('working-buildah');
  reg = await sharedRegistry();
});
after(() => r.close());

/** buildah on a store of its own (vfs: no overlay on overlay), insisting on success. */
function buildah(args: string[]): string {
  const res = spawnSync(
    'buildah',
    [
      '--root',
      join(r.dir, 'buildah'),
      '--runroot',
      join(r.dir, 'buildah-run'),
      '--storage-driver',
      'vfs',
      ...args,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(res.error, undefined, 'buildah must be installed (apt-get install buildah)');
  assert.equal(res.status, 0, `buildah ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

describe('kiln and buildah read each other’s images', () => {
  it('buildah pulls and reads an image kiln committed', () => {
    const ctr = r.ok(['from', 'busybox']).trim();
    r.ok(['run', ctr, '--', 'sh', '-c', 'echo from-kiln > /marker; rm /bin/vi']);
    r.ok(['config', '--env', 'MY_VAR=foobar', '--entrypoint', '["/bin/sh"]', '--label', 'made=kiln', ctr]);
    r.ok(['commit', '--rm', ctr, 'committed:1']);
    const dest = `${reg.host}/working/committed:1`;
    r.ok(['push', '-q', 'committed:1', dest]);

    const bctr = buildah(['from', '--tls-verify=false', '--pull-always', `docker://${dest}`]).trim();
    const info = JSON.parse(buildah(['inspect', bctr]));
    assert.ok(info.OCIv1.config.Env.includes('MY_VAR=foobar'));
    assert.deepEqual(info.OCIv1.config.Entrypoint, ['/bin/sh']);
    assert.equal(info.OCIv1.config.Labels.made, 'kiln');
    const mnt = buildah(['mount', bctr]).trim();
    assert.equal(readFileSync(join(mnt, 'marker'), 'utf8'), 'from-kiln\n');
    assert.throws(() => readFileSync(join(mnt, 'bin', 'vi')), /ENOENT/);
    buildah(['umount', bctr]);
    buildah(['rm', bctr]);
  });

  it('kiln makes a working container from an image buildah pushed', () => {
    const bctr = buildah(['from', '--tls-verify=false', `docker://${reg.host}/working/committed:1`]).trim();
    const mnt = buildah(['mount', bctr]).trim();
    spawnSync('sh', ['-c', `echo from-buildah > ${join(mnt, 'by-buildah')}`]);
    buildah(['umount', bctr]);
    buildah(['config', '--env', 'BY=buildah', bctr]);
    const dest = `${reg.host}/working/by-buildah:1`;
    buildah(['commit', bctr, 'by-buildah']);
    buildah(['push', '--tls-verify=false', 'by-buildah', `docker://${dest}`]);

    const ctr = r.ok(['from', dest]).trim();
    assert.equal(ctr, 'by-buildah-working-container');
    assert.equal(
      r.ok(['run', ctr, '--', 'sh', '-c', 'cat /by-buildah /marker; echo $BY']),
      'from-buildah\nfrom-kiln\nbuildah\n',
    );
    r.ok(['rm', ctr]);
  });
});
