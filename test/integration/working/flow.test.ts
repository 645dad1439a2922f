/**
 * The imperative flow end to end through bin/kiln (issue 17): from, config, run, copy, commit
 * give the image the equivalent Dockerfile gives; run's exit status and stdin; add, mount,
 * squash, rm; copy confined to the container's rootfs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliRoot, cliRoot } from '../cli/helpers.ts';
import { imageConfig, imageFiles, listTree } from './helpers.ts';

let r: CliRoot;
before(async () => {
  r = await cliRoot('working');
});
after(() => r.close());

const RUN = 'echo built > /built; rm /bin/vi; mkdir -p /var/data && echo d > /var/data/f';

describe('kiln from / config / run / copy / commit', () => {
  it('commits the same files and config as the equivalent Dockerfile', async () => {
    const ctx = await r.context({
      'app/main.sh': 'echo app\n',
      'app/lib/x.txt': 'x\n',
      Dockerfile: `FROM busybox\nENV MY_VAR=foobar\nRUN ${RUN}\nCOPY app /app\nWORKDIR /app\nCMD ["sh","main.sh"]\nEXPOSE 8080\nLABEL org.example=1\n`,
    });
    const ctr = r.ok(['from', 'busybox']).trim();
    assert.equal(ctr, 'busybox-working-container');
    r.ok(['config', '--env', 'MY_VAR=foobar', ctr]);
    r.ok(['run', ctr, '--', 'sh', '-c', RUN]);
    r.ok(['copy', ctr, join(ctx, 'app'), '/app']);
    r.ok([
      'config',
      '--workingdir',
      '/app',
      '--cmd',
      '["sh","main.sh"]',
      '--port',
      '8080',
      '--label',
      'org.example=1',
      ctr,
    ]);
    const id = r.ok(['commit', ctr, 'imperative:1']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    r.ok(['build', '-q', '-t', 'declarative:1', ctx]);

    assert.deepEqual(await imageFiles(r, 'imperative:1'), await imageFiles(r, 'declarative:1'));
    const [a, b] = [imageConfig(r, 'imperative:1'), imageConfig(r, 'declarative:1')];
    for (const k of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'Labels', 'ExposedPorts', 'User']) {
      assert.deepEqual(a[k], b[k], k);
    }
    // One layer over the base's, and the deletion is a whiteout in it.
    const layers = (img: string) =>
      r.ok(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', img]).trim();
    assert.equal(Number(layers('imperative:1')), Number(layers('busybox')) + 1);
    const history = r.ok(['image', 'history', '--no-trunc', '--format', '{{.CreatedBy}}', 'imperative:1']);
    assert.match(history.split('\n')[0], /^kiln run sh -c echo built.*; kiln copy /);

    // The next commit adds one more layer with only the changes since this one.
    r.ok(['run', ctr, '--', 'rm', '/built']);
    r.ok(['commit', '--rm', ctr, 'imperative:2']);
    assert.equal(Number(layers('imperative:2')), Number(layers('busybox')) + 2);
    const files = await imageFiles(r, 'imperative:2');
    assert.ok(!files.some((f) => f.startsWith('built ')));
    assert.ok(files.some((f) => f.startsWith('app/main.sh ')));
    assert.equal(r.ok(['containers', '-q']), '');
  });

  it('exits with the command’s status and passes stdin through', () => {
    const ctr = r.ok(['from', '--name', 'io', 'busybox']).trim();
    const res = r.kiln(['run', ctr, '--', 'sh', '-c', 'cat > /in; cat /in; exit 7'], {
      input: 'from stdin\n',
    });
    assert.equal(res.code, 7, res.err);
    assert.equal(res.out, 'from stdin\n');
    assert.equal(
      r.ok(['run', '--env', 'A=b', '--workingdir', '/etc', ctr, '--', 'sh', '-c', 'echo $A $(pwd)']),
      'b /etc\n',
    );
    const missing = r.kiln(['run', ctr, '--', 'no-such-command']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /error: cannot run "no-such-command"/);
    r.ok(['rm', ctr]);
  });

  it('names containers as buildah does and refuses a taken name', () => {
    const a = r.ok(['from', 'busybox']).trim();
    const b = r.ok(['from', 'busybox']).trim();
    assert.deepEqual([a, b], ['busybox-working-container', 'busybox-working-container-1']);
    const taken = r.kiln(['from', '--name', a, 'busybox']);
    assert.equal(taken.code, 1);
    assert.match(
      taken.err,
      /error: a working container named "busybox-working-container" already exists\nhint: /,
    );
    const json = JSON.parse(r.ok(['containers', '--json']));
    assert.deepEqual(
      json.map((c: { containername: string }) => c.containername),
      [a, b],
    );
    assert.equal(r.ok(['containers', '--format', '{{.ContainerName}}']), `${a}\n${b}\n`);
    const inspect = JSON.parse(r.ok(['inspect', a]));
    assert.equal(inspect.Container, a);
    assert.equal(inspect.FromImage, 'docker.io/library/busybox:latest');
    assert.equal(r.ok(['inspect', '--format', '{{.Config.Cmd}}', 'busybox']), '[sh]\n');
    r.ok(['rm', '--all']);
    const gone = r.kiln(['run', a, '--', 'true']);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /error: no working container named "busybox-working-container"\nhint: list them/);
  });

  it('mount shows a rootfs the user may edit, which commit takes in', async () => {
    const ctr = r.ok(['from', '--name', 'mnt', 'busybox']).trim();
    const path = r.ok(['mount', ctr]).trim();
    writeFileSync(join(path, 'edited'), 'by hand\n');
    assert.equal(r.ok(['run', ctr, '--', 'cat', '/edited']), 'by hand\n');
    r.ok(['commit', ctr, 'mounted:1']);
    // Still mounted after the commit, showing the same files.
    assert.equal(readFileSync(join(path, 'edited'), 'utf8'), 'by hand\n');
    r.ok(['umount', ctr]);
    assert.deepEqual(readdirSync(path), []);
    assert.ok((await imageFiles(r, 'mounted:1')).some((f) => f.startsWith('edited ')));
    r.ok(['rm', ctr]);
  });

  it('add unpacks archives; copy takes --chown, --chmod and --from', async () => {
    const ctx = await r.context({ 'd/f.txt': 'f\n' });
    const tar = join(r.dir, 'a.tar');
    assert.equal(spawnSync('tar', ['-cf', tar, '-C', join(ctx, 'd'), 'f.txt']).status, 0);
    const ctr = r.ok(['from', '--name', 'adder', 'busybox']).trim();
    r.ok(['add', ctr, tar, '/unpacked/']);
    r.ok(['copy', '--chown', 'app:app', '--chmod', '600', '--contextdir', ctx, ctr, 'd/f.txt', '/owned']);
    const out = r.ok(['run', ctr, '--', 'sh', '-c', 'cat /unpacked/f.txt; stat -c "%U %a" /owned']);
    assert.equal(out, 'f\napp 600\n');
    const other = r.ok(['from', '--name', 'other', 'busybox']).trim();
    r.ok(['copy', '--from', ctr, other, '/owned', '/from-ctr']);
    r.ok(['copy', '--from', 'busybox', other, '/bin/busybox', '/from-image']);
    assert.equal(
      r.ok(['run', other, '--', 'sh', '-c', 'cat /from-ctr && test -x /from-image && echo ok']),
      'f\nok\n',
    );
    r.ok(['rm', ctr, other]);
  });

  it('copy never writes through a symlink the container planted', () => {
    const sentinel = join(r.dir, 'sentinel');
    mkdirSync(sentinel);
    writeFileSync(join(sentinel, 'keep'), 'host\n');
    const before = listTree(sentinel);
    const ctr = r.ok(['from', '--name', 'evil', 'busybox']).trim();
    r.ok(['run', ctr, '--', 'ln', '-s', sentinel, '/escape']);
    const src = join(r.dir, 'payload');
    writeFileSync(src, 'payload\n');
    r.kiln(['copy', ctr, src, '/escape/keep']);
    r.kiln(['copy', ctr, src, '/escape/new']);
    assert.deepEqual(listTree(sentinel), before);
    assert.equal(readFileSync(join(sentinel, 'keep'), 'utf8'), 'host\n');
    assert.ok(!existsSync(join(sentinel, 'new')));
    r.ok(['rm', ctr]);
  });
});
