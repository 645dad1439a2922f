/**
 * Whiteouts in the layers kiln writes, judged by GNU tar and a strictly in-order extractor: in
 * each directory the opaque marker comes first, then the `.wh.` entries, then the rest (the OCI
 * layer spec's order), with BuildKit's header fields; applying the entries one by one, in order,
 * gives the overlay's merged view.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { createLayer, diffDirectories, diffOverlayUpper } from '../../../src/archive/layer.ts';
import { describeTree } from '../../../src/archive/treesnap.ts';

function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: env && { ...process.env, ...env } });
}

/**
 * Apply a layer tar the way a naive extractor does: entry by entry, in archive order, a
 * whiteout removing whatever is there when it is read (including what this layer just added).
 */
const IN_ORDER_EXTRACT = `set -e
cd "$1"
tar -tf "$2" | while IFS= read -r name; do
  p=\${name%/}; dir=$(dirname "$p"); base=$(basename "$p")
  case "$base" in
    .wh..wh..opq) find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} + ;;
    .wh.*) rm -rf "$dir/\${base#.wh.}" ;;
    *) tar -xpf "$2" --numeric-owner --no-recursion -- "$name" ;;
  esac
done`;

interface Listed {
  perms: string;
  owner: string;
  mtime: string;
  path: string;
}

/** GNU tar's verbose listing: type and mode, numeric owner, mtime (UTC), path, in archive order. */
function listTar(file: string): Listed[] {
  const out = sh('tar', ['--numeric-owner', '--full-time', '-tvf', file], { TZ: 'UTC' });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(\S+) (\S+)\s+\d+ (\S+ \S+) (.*)$/.exec(line);
      assert.ok(m, `unexpected tar listing line: ${line}`);
      return { perms: m[1], owner: m[2], mtime: m[3], path: m[4] };
    });
}

describe('whiteout entries in a layer', () => {
  let tmp: string;
  before(() => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (overlay mounts, chown)');
    execFileSync('sh', ['-c', 'command -v tar && command -v find'], { stdio: 'ignore' });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-whiteout-order-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('an overlay upper: opaque marker, then whiteouts, first in their directory; an in-order extractor gives the merged view', async () => {
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(tmp, d));
    fs.mkdirSync(path.join(lower, 'd/sub'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'd/.a'), 'lower .a');
    fs.writeFileSync(path.join(lower, 'd/old'), 'old');
    fs.writeFileSync(path.join(lower, 'd/sub/f'), 'f');
    fs.mkdirSync(path.join(lower, 'keep'));
    fs.writeFileSync(path.join(lower, 'keep/del'), 'deleted');
    fs.writeFileSync(path.join(lower, 'keep/z'), 'stays');
    fs.writeFileSync(path.join(lower, 'gone'), 'gone');
    for (const d of [upper, work, merged]) fs.mkdirSync(d);
    sh('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    try {
      fs.rmSync(path.join(merged, 'd'), { recursive: true });
      fs.mkdirSync(path.join(merged, 'd'), { mode: 0o750 });
      fs.chmodSync(path.join(merged, 'd'), 0o750);
      fs.chownSync(path.join(merged, 'd'), 7, 8);
      fs.writeFileSync(path.join(merged, 'd/.a'), 'new .a');
      fs.writeFileSync(path.join(merged, 'd/b'), 'b');
      fs.rmSync(path.join(merged, 'keep/del'));
      fs.writeFileSync(path.join(merged, 'keep/.b'), 'dot b');
      fs.rmSync(path.join(merged, 'gone'));
      fs.writeFileSync(path.join(merged, '.top'), 'top');
    } finally {
      sh('umount', [merged]);
    }
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${upper}:${lower}`, merged]);
    let want: Awaited<ReturnType<typeof describeTree>>;
    try {
      want = await describeTree(merged, { mtimes: false });
    } finally {
      sh('umount', [merged]);
    }

    const file = path.join(tmp, 'upper.tar');
    const layer = createLayer(await diffOverlayUpper(upper), { compression: 'uncompressed' });
    await pipeline(layer.stream, fs.createWriteStream(file));
    const listed = listTar(file);
    assert.deepEqual(
      listed.map((e) => e.path),
      ['.wh.gone', '.top', 'd/', 'd/.wh..wh..opq', 'd/.a', 'd/b', 'keep/', 'keep/.wh.del', 'keep/.b'],
    );
    const byPath = new Map(listed.map((e) => [e.path, e]));
    for (const wh of ['.wh.gone', 'keep/.wh.del']) {
      // BuildKit's (containerd's ChangeWriter): an empty regular file, mode 0, 0:0, mtime 0.
      assert.deepEqual(byPath.get(wh), {
        perms: '----------',
        owner: '0/0',
        mtime: '1970-01-01 00:00:00',
        path: wh,
      });
    }
    // Docker's: a regular file with the directory's permission bits and owner, mtime 0.
    assert.deepEqual(byPath.get('d/.wh..wh..opq'), {
      perms: '-rwxr-x---',
      owner: '7/8',
      mtime: '1970-01-01 00:00:00',
      path: 'd/.wh..wh..opq',
    });

    const root = path.join(tmp, 'extracted');
    execFileSync('cp', ['-a', lower, root]);
    execFileSync('sh', ['-c', IN_ORDER_EXTRACT, 'extract', root, file]);
    assert.deepEqual(await describeTree(root, { mtimes: false }), want);
  });

  it('a copied tree (the native snapshotter): a directory that replaced a file gets its opaque marker first', async () => {
    const lower = path.join(tmp, 'n-lower');
    const upper = path.join(tmp, 'n-upper');
    fs.mkdirSync(lower);
    fs.writeFileSync(path.join(lower, 'x'), 'a file');
    fs.writeFileSync(path.join(lower, 'y'), 'deleted');
    fs.mkdirSync(path.join(upper, 'x'), { recursive: true });
    fs.writeFileSync(path.join(upper, 'x/.a'), 'dot a');
    const entries = await diffDirectories(lower, upper);
    assert.deepEqual(
      entries.map((e) => e.header.path),
      ['.wh.y', 'x', 'x/.wh..wh..opq', 'x/.a'],
    );
    const opq = entries[2].header;
    const st = fs.statSync(path.join(upper, 'x'));
    assert.deepEqual([opq.type, opq.mode, opq.uid, opq.gid, opq.mtime], ['file', st.mode & 0o777, 0, 0, 0]);
  });
});
