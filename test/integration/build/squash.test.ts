/**
 * `kiln build --squash`: the layers a build adds above its base image become one, the base's
 * layers stay, the history keeps every step (squashed ones as empty_layer), and the filesystem
 * umoci unpacks from the squashed image is the one it unpacks without --squash, down to a file a
 * later step deleted and a base file removed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildContext, kiln, makeContext, openSuite, readImage, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('squash');
  execFileSync('umoci', ['--version']);
});
after(() => suite.close());

const DOCKERFILE = [
  'FROM busybox',
  'RUN mkdir -p /d && echo 1 > /d/one && echo 2 > /d/two && echo x > /gone && ln -s two /d/link',
  'COPY a.txt /d/a.txt',
  'ENV X=1',
  'RUN rm /d/one /gone /etc/group && chmod 700 /d && echo changed > /d/two',
  'CMD ["sh"]',
  '',
].join('\n');

/** Every path under `root` with its type, mode, owner, size, content hash or link target. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = join(rel, name);
      const st = lstatSync(join(root, p));
      let what = `${p} ${st.mode.toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(join(root, p))}`;
      else if (st.isFile())
        what += ` ${st.size} ${createHash('sha256')
          .update(readFileSync(join(root, p)))
          .digest('hex')}`;
      out.push(what);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

/** Build to an OCI layout with the CLI and unpack it with umoci; returns the rootfs and the layout. */
function buildAndUnpack(ctx: string, name: string, extra: string[]): string {
  const layout = join(suite.dir, `${name}-layout`);
  const r = kiln(suite, [
    'build',
    '-q',
    ...extra,
    '-o',
    `type=oci,dest=${layout},tar=false,name=${name}`,
    ctx,
  ]);
  assert.equal(r.code, 0, r.err);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const ref = index.manifests[0].annotations?.['org.opencontainers.image.ref.name'];
  assert.ok(ref, `the layout names its image: ${JSON.stringify(index)}`);
  const bundle = join(suite.dir, `${name}-bundle`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:${ref}`, bundle], { stdio: 'pipe' });
  return join(bundle, 'rootfs');
}

describe('kiln build --squash', () => {
  it('gives one layer above the base, the same unpacked filesystem, and every step in the history', async () => {
    const ctx = await makeContext(suite, { Dockerfile: DOCKERFILE, 'a.txt': 'from the context\n' });
    const plain = await buildContext(suite, ctx, { noLocal: true });
    const squashed = await buildContext(suite, ctx, { noLocal: true, squash: true });
    const base = plain.image.layers.length - 3; // RUN, COPY, RUN
    assert.ok(base >= 1);
    assert.equal(squashed.image.manifest.layers.length, base + 1, 'one layer above the base');
    assert.deepEqual(
      squashed.image.manifest.layers.slice(0, base).map((l) => l.digest),
      plain.image.manifest.layers.slice(0, base).map((l) => l.digest),
      'the base layers are untouched',
    );
    const hp = plain.image.config.history;
    const hs = squashed.image.config.history;
    assert.deepEqual(
      hs.map((h: { created_by: string }) => h.created_by),
      hp.map((h: { created_by: string }) => h.created_by),
      'every step stays in the history',
    );
    const layered = (h: { empty_layer?: boolean }[]) => h.filter((e) => !e.empty_layer).length;
    assert.equal(layered(hs), base + 1);
    assert.equal(hs.at(-1).empty_layer, true, 'CMD adds no layer');
    const lastRun = hs.findLastIndex((h: { empty_layer?: boolean }) => !h.empty_layer);
    assert.match(hs[lastRun].created_by, /RUN .*rm \/d\/one/, 'the last layer-making step carries the layer');
    assert.equal(squashed.image.config.rootfs.diff_ids.length, base + 1);

    // The squashed layer itself: the deleted base file is a whiteout, the files deleted after
    // they were made are simply absent.
    const top = squashed.image.layers.at(-1)!.map((f) => f.path);
    assert.ok(top.includes('etc/.wh.group'), top.join(' '));
    assert.ok(!top.some((p) => /(^|\/)(\.wh\.)?(one|gone)$/.test(p)), top.join(' '));
    assert.ok(top.includes('d/two') && top.includes('d/a.txt') && top.includes('d/link'));
  });

  it('--squash on the command line: umoci unpacks the same tree as without it', async () => {
    const ctx = await makeContext(suite, { Dockerfile: DOCKERFILE, 'a.txt': 'from the context\n' });
    const a = tree(buildAndUnpack(ctx, 'plain', []));
    const b = tree(buildAndUnpack(ctx, 'squashed', ['--squash']));
    assert.deepEqual(b, a);
    assert.ok(!a.some((l) => l.startsWith('gone ') || l.startsWith('d/one ') || l.startsWith('etc/group ')));
    assert.ok(
      a.some((l) => l.startsWith('d 40700 ')),
      'the chmod of /d shows',
    );
  });

  it('FROM scratch squashes every layer into one; a single layer above the base is left as it is', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM scratch\nCOPY a.txt /a\nCOPY a.txt /b\n',
      'a.txt': 'x\n',
    });
    const s = await buildContext(suite, ctx, { noLocal: true, squash: true });
    assert.equal(s.image.manifest.layers.length, 1);
    assert.deepEqual(s.image.layers[0].map((f) => f.path).sort(), ['a', 'b']);
    const one = await makeContext(suite, { Dockerfile: 'FROM busybox\nCOPY a.txt /a\n', 'a.txt': 'x\n' });
    const p = await buildContext(suite, one, { noLocal: true });
    const q = await buildContext(suite, one, { noLocal: true, squash: true });
    assert.equal(q.result.imageId, p.result.imageId, 'nothing to squash: the same image');
  });

  it('a rebuild reuses the squashed layer and gives the same image', async () => {
    const ctx = await makeContext(suite, { Dockerfile: DOCKERFILE, 'a.txt': 'again\n' });
    const first = await buildContext(suite, ctx, { noLocal: true, squash: true });
    const second = await buildContext(suite, ctx, { noLocal: true, squash: true });
    assert.equal(second.result.imageId, first.result.imageId);
    const view = await readImage(suite, second.result.root!);
    assert.equal(view.manifest.layers.length, first.image.manifest.layers.length);
  });
});
