/** The image and store commands end to end through bin/kiln, against a temporary --root. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { humanSize } from '../../../src/cli/format/units.ts';
import { busyboxRootfsTar } from '../../../src/testing/fixtures.ts';

const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');
let dir: string;
let root: string;

function kiln(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(KILN, args, { encoding: 'utf8', env: { ...process.env, KILN_ROOT: root, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function ok(args: string[]): string {
  const r = kiln(args);
  assert.equal(r.code, 0, `kiln ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-'));
  root = join(dir, 'root');
  await writeFile(join(dir, 'rootfs.tar'), await busyboxRootfsTar('amd64'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('kiln image commands', () => {
  it('import, images, tag, inspect, history', () => {
    // Sizes are the uncompressed layer, as docker shows them: the tarball imported.
    const tarSize = humanSize(statSync(join(dir, 'rootfs.tar')).size, 3).replace('.', '\\.');
    const id = ok([
      'image',
      'import',
      join(dir, 'rootfs.tar'),
      'test/bb:1',
      '--platform',
      'linux/amd64',
      '--change',
      'CMD ["sh"]',
      '--change',
      'ENV A=1',
      '--change',
      'USER app',
      '-m',
      'from the fixture',
    ]).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const table = ok(['images']);
    assert.match(table, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
    assert.match(
      table,
      new RegExp(
        `test/bb\\s+1\\s+${id.slice(7, 19)}\\s+(Less than a second|\\d+ seconds?) ago\\s+${tarSize}\n`,
      ),
    );
    ok(['tag', 'test/bb:1', 'example.com/bb:2']);
    const list = ok(['images', '--format', 'json'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      list.map((i: { Repository: string; Tag: string }) => `${i.Repository}:${i.Tag}`),
      ['test/bb:1', 'example.com/bb:2'],
    );
    const [info] = JSON.parse(ok(['image', 'inspect', 'example.com/bb:2']));
    assert.equal(info.Id, id);
    assert.deepEqual(info.RepoTags, ['test/bb:1', 'example.com/bb:2']);
    assert.deepEqual(info.Config, { Cmd: ['sh'], Env: ['A=1'], User: 'app' });
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.RootFS.Layers.length, 1);
    const history = ok(['image', 'history', '--no-trunc', 'test/bb:1']);
    assert.match(history, new RegExp(`kiln image import .*rootfs\\.tar\\s+${tarSize}\\s+from the fixture`));
    assert.equal(ok(['image', 'inspect', id.slice(7, 19)]).includes(id), true, 'inspect by short ID');
  });

  it('save, rmi, load round trip and du/prune/fsck', async () => {
    const archive = join(dir, 'bb.tar');
    ok(['image', 'save', '--format', 'oci', '-o', archive, 'test/bb:1']);
    const rmi = ok(['rmi', 'test/bb:1', 'example.com/bb:2']);
    assert.match(rmi, /Untagged: test\/bb:1\nUntagged: example\.com\/bb:2\nDeleted: sha256:/);
    assert.equal(ok(['images', '-q']), '');
    assert.deepEqual(await readdir(join(root, 'blobs', 'sha256')), []);
    assert.equal(ok(['image', 'load', '-i', archive]), 'Loaded image: test/bb:1\n');
    const du = JSON.parse(ok(['du', '--format', 'json']));
    assert.equal(du.images.length, 1);
    assert.equal(du.reclaimable, 0);

    await writeFile(join(root, 'blobs', 'sha256', 'f'.repeat(64)), 'orphan that does not match its name');
    const bad = kiln(['fsck']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /corrupt: sha256:f{64}/);
    assert.match(bad.err, /error: the local store has problems/);

    const pruned = ok(['prune', '-f']);
    assert.match(pruned, /Deleted: sha256:f{64}\nTotal reclaimed space: 35B/);
    assert.match(ok(['fsck']), /3 blobs .* checked: sound/);
    assert.equal(kiln(['prune']).code, 1, 'prune without -f and without a terminal refuses');
    ok(['prune', '--all', '-f']);
    assert.equal(ok(['images', '-q']), '');
  });

  it('--root wins over KILN_ROOT', () => {
    const other = join(dir, 'other-root');
    const r = kiln(['--root', other, 'images', '-q'], { KILN_ROOT: join(dir, 'unused') });
    assert.equal(r.code, 0, r.err);
    assert.equal(spawnSync('test', ['-f', join(other, 'meta.db')]).status, 0);
  });

  it('errors name the problem and a fix', () => {
    const r = kiln(['image', 'inspect', 'nope:1']);
    assert.equal(r.code, 1);
    assert.match(r.err, /error: no image named "nope:1" in the local store\nhint: /);
  });
});
