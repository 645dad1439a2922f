/**
 * Every image ID kiln prints is one every image command accepts, in full or as any unique
 * prefix (with or without `sha256:`), as docker does; an untagged build stays in the store as
 * `<none>:<none>`, so does an image whose name moves to a newer build, and `image prune` removes
 * them (`-a`: every image).
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxRootfsTar } from '../../../src/testing/fixtures.ts';
import { sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { type CliRoot, cliRoot, near, parseHumanSize } from './helpers.ts';

let r: CliRoot;
let reg: TestRegistry;
before(async () => {
  r = await cliRoot('ids');
  reg = await sharedRegistry();
});
after(() => r.close());

const hex = (id: string) => id.slice('sha256:'.length);

describe('image IDs', () => {
  let id: string;

  it('an untagged build prints an ID that inspect, history, images, tag, save, push and rmi accept', async () => {
    const ctx = await r.context({ Dockerfile: 'FROM busybox\nRUN echo untagged > /u\nCMD ["cat", "/u"]\n' });
    id = r.ok(['build', '-q', ctx]).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);

    const [info] = JSON.parse(r.ok(['image', 'inspect', id]));
    assert.equal(info.Id, id);
    assert.deepEqual(info.RepoTags, []);
    assert.deepEqual(info.Config.Cmd, ['cat', '/u']);
    for (const form of [
      id,
      hex(id),
      hex(id).slice(0, 12),
      `sha256:${hex(id).slice(0, 7)}`,
      hex(id).slice(0, 5),
    ]) {
      assert.equal(r.ok(['image', 'inspect', '--format', '{{.Id}}', form]), `${id}\n`, `inspect ${form}`);
    }

    // docker: an unnamed image is a <none> <none> row; -q prints its short ID.
    assert.match(r.ok(['images']), new RegExp(`\\n<none>\\s+<none>\\s+${hex(id).slice(0, 12)}\\s`));
    assert.ok(r.ok(['images', '-q']).split('\n').includes(hex(id).slice(0, 12)));
    assert.match(
      r.ok(['images', '--filter', 'dangling=true', '-q', '--no-trunc']),
      new RegExp(`^${id}$`, 'm'),
    );

    // history shows the ID on the top row and <missing> below it.
    const history = r
      .ok(['image', 'history', '-q', hex(id).slice(0, 8)])
      .trim()
      .split('\n');
    assert.equal(history[0], hex(id).slice(0, 12));
    assert.ok(history.length > 2 && history.slice(1).every((l) => l === '<missing>'), history.join('|'));

    const archive = join(r.dir, 'by-id.tar');
    r.ok(['image', 'save', '-o', archive, hex(id).slice(0, 12)]);
    assert.ok(existsSync(archive));

    const pushed = r.ok(['push', '-q', hex(id).slice(0, 10), `${reg.host}/ids/untagged:1`]).trim();
    assert.match(pushed, new RegExp(`^${reg.host}/ids/untagged:1@sha256:[0-9a-f]{64}$`));
    // Pushing needs a name: an ID alone says so.
    const noDest = r.kiln(['push', hex(id).slice(0, 12)]);
    assert.equal(noDest.code, 1);
    assert.match(noDest.err, /is an image ID, not a name to push to\nhint: give a destination/);

    r.ok(['tag', `sha256:${hex(id).slice(0, 9)}`, 'ids/named:1']);
    assert.match(r.ok(['images', 'ids/named']), new RegExp(`ids/named\\s+1\\s+${hex(id).slice(0, 12)}`));
    // Named now, it is no longer dangling.
    assert.equal(r.ok(['images', '--filter', 'dangling=true', '-q']).includes(hex(id).slice(0, 12)), false);
    assert.equal(r.ok(['rmi', hex(id).slice(0, 12)]), `Untagged: ids/named:1\nDeleted: ${id}\n`);
    const gone = r.kiln(['image', 'inspect', id]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /no image named/);

    // Saved by ID, the archive names no image: loading it back keeps it, under the same ID.
    assert.equal(r.ok(['image', 'load', '-i', archive]), `Loaded image ID: ${id}\n`);
    assert.equal(
      r.ok(['image', 'inspect', '--format', '{{.Id}} {{.RepoTags}}', hex(id).slice(0, 12)]),
      `${id} []\n`,
    );
    r.ok(['rmi', id]);
  });

  it('an unnamed import prints an ID that inspect accepts', async () => {
    const tar = join(r.dir, 'rootfs.tar');
    writeFileSync(tar, await busyboxRootfsTar('amd64'));
    const imported = r.ok(['image', 'import', tar]).trim();
    assert.equal(r.ok(['image', 'inspect', '--format', '{{.Id}}', imported]), `${imported}\n`);
    r.ok(['rmi', imported]);
  });

  it('a multi-platform untagged build prints the index digest, which inspect accepts', async () => {
    const ctx = await r.context({ Dockerfile: 'FROM busybox\nRUN echo multi > /m\n' });
    const index = r.ok(['build', '-q', '--platform', 'linux/amd64,linux/arm64', ctx]).trim();
    const [info] = JSON.parse(
      r.ok(['image', 'inspect', '--platform', 'linux/arm64', hex(index).slice(0, 12)]),
    );
    assert.equal(info.Id, index);
    assert.equal(info.Descriptor.digest, index);
    assert.equal(info.Architecture, 'arm64');
    r.ok(['rmi', index]);
  });

  it('a prefix that fits two images is refused, naming both', async () => {
    // IDs are hashes: among 17 images, two share their first hex digit.
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) {
      const ctx = await r.context({ Dockerfile: `FROM busybox\nLABEL n=${i}\n` });
      ids.push(r.ok(['build', '-q', ctx]).trim());
    }
    const first = ids.map((x) => hex(x)[0]);
    const shared = first.find((c, i) => first.indexOf(c) !== i) as string;
    const res = r.kiln(['image', 'inspect', shared]);
    assert.equal(res.code, 1);
    assert.match(
      res.err,
      new RegExp(`error: image ID prefix "${shared}" matches \\d+ images: .*\\nhint: give more characters`),
    );
    // A name wins over an ID prefix that spells the same.
    r.ok(['tag', ids[0], `${shared}:latest`]);
    assert.equal(r.ok(['image', 'inspect', '--format', '{{.Id}}', shared]), `${ids[0]}\n`);
    r.ok(['rmi', `${shared}:latest`]);
  });

  it('a rebuild that moves a name leaves the old image as <none>:<none>; image prune removes it', async () => {
    const ctx = await r.context({ Dockerfile: 'FROM busybox\nRUN head -c 300000 /dev/urandom > /v1\n' });
    const v1 = r.ok(['build', '-q', '-t', 'ids/app:1', ctx]).trim();
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo v2 > /v2\n');
    const v2 = r.ok(['build', '-q', '-t', 'ids/app:1', ctx]).trim();
    assert.notEqual(v1, v2);
    // The 17 unnamed LABEL images of the test before are dangling too.
    const dangling = r.ok(['images', '--filter', 'dangling=true', '-q', '--no-trunc']).trim().split('\n');
    assert.ok(dangling.includes(v1));
    assert.ok(!dangling.includes(v2));
    assert.equal(r.ok(['image', 'inspect', '--format', '{{.RepoTags}}', v1]), '[]\n');

    const before = r.du();
    const out = r.ok(['image', 'prune', '-f']);
    const m = /^Deleted Images:\n((?:deleted: sha256:[0-9a-f]{64}\n)+)\nTotal reclaimed space: (\S+)\n$/.exec(
      out,
    );
    assert.ok(m, out);
    assert.ok(m[1].includes(`deleted: ${v1}\n`));
    // What it says it reclaimed is what left the disk.
    near(parseHumanSize(m[2]), before - r.du(), 2, 'reclaimed vs du -sb');
    assert.ok(parseHumanSize(m[2]) > 300_000, m[2]);
    assert.equal(r.ok(['images', '--filter', 'dangling=true', '-q']), '');
    assert.equal(r.ok(['image', 'prune', '-f']), 'Total reclaimed space: 0B\n');
    assert.equal(r.kiln(['image', 'inspect', v1]).code, 1);
    assert.equal(r.ok(['image', 'inspect', '--format', '{{.Id}}', 'ids/app:1']), `${v2}\n`);

    // -a removes named images too: untagged lines, then the image.
    const all = r.ok(['image', 'prune', '-a', '-f', '--filter', 'label=none.such']);
    assert.equal(all, 'Total reclaimed space: 0B\n');
    const everything = r.ok(['image', 'prune', '-a', '-f']);
    assert.match(everything, /^Deleted Images:\n/);
    assert.match(everything, new RegExp(`untagged: ids/app:1\\ndeleted: ${v2}\\n`));
    assert.match(everything, /untagged: busybox:latest\n/);
    assert.equal(r.ok(['images', '-q']), '');
  });
});
