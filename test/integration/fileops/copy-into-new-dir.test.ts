/**
 * A directory's contents copied to a destination that does not exist yet: the copy makes the
 * directory (0755, not setgid) and treats what it creates inside as fresh (no target lstat, no
 * chown that would change nothing, no chmod copyFile already did). Owners, groups and modes must
 * come out exactly as when every call is made: under a setgid parent of another group (whose
 * group a new directory inherits), and for context files of another owner than kiln (copyFile
 * gives a file its source's owner), in the new directory and in one the walk makes below it.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../../../src/fileops/index.ts';
import { build, DOCKERFILE_COPY, inspect, tempDir } from './helpers.ts';

const T = 1_600_000_000;
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const COPY = DOCKERFILE_COPY;

/** A source tree with owners, a setuid file and a private one; a dest whose /srv is setgid, group 50. */
function setup(): { src: string; dest: string } {
  const src = tempDir('kiln-newdir-src-');
  const dest = tempDir('kiln-newdir-dst-');
  roots.push(src, dest);
  build(src, {
    'd/own': { content: 'o', mode: 0o644, uid: 1000, gid: 1001, mtime: T },
    'd/root': { content: 'r', mode: 0o644, uid: 0, gid: 0, mtime: T },
    'd/suid': { content: 's', mode: 0o4755, uid: 0, gid: 0, mtime: T },
    'd/private': { content: 'p', mode: 0o600, uid: 0, gid: 0, mtime: T },
    'd/sub/x': { content: 'x', mode: 0o640, uid: 0, gid: 0, mtime: T },
    'd/sub/y': { content: 'y', mode: 0o644, uid: 1000, gid: 1001, mtime: T },
  });
  // Set last: a chown clears setuid.
  chmodSync(join(src, 'd', 'suid'), 0o4755);
  build(dest, { srv: { dir: true, mode: 0o755 } });
  chownSync(join(dest, 'srv'), 0, 50);
  chmodSync(join(dest, 'srv'), 0o2775);
  return { src, dest };
}

describe('COPY of a directory into a destination it creates', () => {
  it('keeps each source owner and mode (COPY --from), under a setgid parent', async () => {
    const { src, dest } = setup();
    await copy({ ...COPY, srcRoot: src, srcPaths: ['d'], destRoot: dest, dest: '/srv/new' });
    const seen = inspect(dest);
    assert.equal(seen['srv/new'].mode, 0o755);
    assert.deepEqual(
      ['own', 'root', 'suid', 'private', 'sub/x', 'sub/y'].map((f) => {
        const s = seen[`srv/new/${f}`];
        return [f, s.uid, s.gid, s.mode.toString(8), s.mtime, s.content];
      }),
      [
        ['own', 1000, 1001, '644', T, 'o'],
        ['root', 0, 0, '644', T, 'r'],
        ['suid', 0, 0, '4755', T, 's'],
        ['private', 0, 0, '600', T, 'p'],
        ['sub/x', 0, 0, '640', T, 'x'],
        ['sub/y', 1000, 1001, '644', T, 'y'],
      ],
    );
  });

  it('gives every file the uniform owner (a context, --chown) whoever owns its source, under a setgid parent', async () => {
    const { src, dest } = setup();
    await copy({
      ...COPY,
      defaultOwner: { uid: 0, gid: 0 },
      srcRoot: src,
      srcPaths: ['d'],
      destRoot: dest,
      dest: '/srv/ctx',
    });
    await copy({
      ...COPY,
      chown: { uid: 1000, gid: 1001 },
      srcRoot: src,
      srcPaths: ['d'],
      destRoot: dest,
      dest: '/srv/chowned',
    });
    const seen = inspect(dest);
    for (const [dir, uid, gid] of [
      ['ctx', 0, 0],
      ['chowned', 1000, 1001],
    ] as const) {
      for (const f of ['own', 'root', 'suid', 'private', 'sub', 'sub/x', 'sub/y']) {
        const s = seen[`srv/${dir}/${f}`];
        assert.deepEqual([f, s.uid, s.gid], [f, uid, gid], `${dir}/${f}`);
      }
      assert.equal(seen[`srv/${dir}/private`].mode, 0o600);
      assert.equal(seen[`srv/${dir}/own`].mtime, T);
    }
    // chown clears setuid: the mode is set again after it (BuildKit keeps the bit).
    assert.equal(seen['srv/ctx/suid'].mode, 0o4755);
    assert.equal(seen['srv/chowned/suid'].mode, 0o4755);
  });
});
