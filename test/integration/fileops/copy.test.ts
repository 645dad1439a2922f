/**
 * COPY/ADD corner cases as a table: each case builds a source tree and a destination root,
 * runs copy() with Dockerfile-like options, and checks the resulting entries (type, content,
 * mode, owner, mtime, link target, hardlinks) or the error. Needs root (chown, mknod).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CopyOptions, copy } from '../../../src/fileops/index.ts';
import { build, DOCKERFILE_COPY, inspect, type Seen, type Spec, tempDir } from './helpers.ts';

interface Case {
  name: string;
  src: Record<string, Spec>;
  dest?: Record<string, Spec>;
  op: Partial<CopyOptions> & { srcPaths: string[]; dest: string };
  /** Paths that must exist after the copy, with the fields to check. */
  expect?: Record<string, Partial<Seen> | null>;
  /** The full list of paths in the destination afterwards. */
  paths?: string[];
  error?: { code: string; message?: RegExp };
}

const T = 1_600_000_000; // a fixed source mtime (seconds)
const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n';
const group = 'root:x:0:\napp:x:1001:\nstaff:x:50:app\n';

// Dockerfile COPY of context files, which are owned by 0:0.
const COPY: Partial<CopyOptions> = { ...DOCKERFILE_COPY, defaultOwner: { uid: 0, gid: 0 } };

const cases: Case[] = [
  {
    name: 'file to file keeps mode and mtime, owner 0:0',
    src: { 'a.txt': { content: 'A', mode: 0o640, uid: 1234, mtime: T } },
    op: { srcPaths: ['a.txt'], dest: '/b.txt' },
    paths: ['b.txt'],
    expect: { 'b.txt': { type: 'file', content: 'A', mode: 0o640, uid: 0, gid: 0, mtime: T } },
  },
  {
    name: 'file to dir/ creates the dir 0755 and copies into it',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['a.txt'], dest: '/d/e/' },
    paths: ['d', 'd/e', 'd/e/a.txt'],
    expect: { d: { type: 'dir', mode: 0o755 }, 'd/e/a.txt': { content: 'A' } },
  },
  {
    name: 'file to an existing dir without a slash goes inside it',
    src: { 'a.txt': 'A' },
    dest: { d: { dir: true, mode: 0o700 } },
    op: { srcPaths: ['a.txt'], dest: '/d' },
    expect: { 'd/a.txt': { content: 'A' }, d: { mode: 0o700 } },
  },
  {
    name: 'file over an existing file replaces it',
    src: { 'a.txt': 'new' },
    dest: { 'x.txt': 'old' },
    op: { srcPaths: ['a.txt'], dest: '/x.txt' },
    expect: { 'x.txt': { content: 'new' } },
  },
  {
    name: 'file over an existing directory at dest/name is an error',
    src: { 'a.txt': 'new' },
    dest: { 'd/a.txt': { dir: true } },
    op: { srcPaths: ['a.txt'], dest: '/d/' },
    error: {
      code: 'FILEOP_CANNOT_REPLACE_DIR',
      message: /cannot replace to directory \/d\/a\.txt with file/,
    },
  },
  {
    name: 'COPY dir /x copies the contents of dir; /x gets 0755',
    src: {
      'dir/f': { content: 'F', mode: 0o600 },
      'dir/sub': { dir: true, mode: 0o750, mtime: T },
      'dir/sub/g': 'G',
    },
    op: { srcPaths: ['dir'], dest: '/x' },
    paths: ['x', 'x/f', 'x/sub', 'x/sub/g'],
    expect: {
      x: { type: 'dir', mode: 0o755 },
      'x/f': { mode: 0o600 },
      'x/sub': { mode: 0o750, mtime: T },
      'x/sub/g': { content: 'G' },
    },
  },
  {
    name: 'COPY dir/ into an existing dir merges and keeps the dir own mode',
    src: { 'dir/f': 'F' },
    dest: { x: { dir: true, mode: 0o711 }, 'x/old': 'O' },
    op: { srcPaths: ['dir/'], dest: '/x/' },
    paths: ['x', 'x/f', 'x/old'],
    expect: { x: { mode: 0o711 } },
  },
  {
    name: 'without dirContentsOnly the directory itself is copied into an existing dest',
    src: { 'dir/f': 'F' },
    dest: { x: { dir: true } },
    op: { srcPaths: ['dir'], dest: '/x', dirContentsOnly: false },
    paths: ['x', 'x/dir', 'x/dir/f'],
  },
  {
    name: 'wildcard matching files',
    src: { 'a.txt': 'A', 'b.txt': 'B', 'c.md': 'C' },
    op: { srcPaths: ['*.txt'], dest: '/out/' },
    paths: ['out', 'out/a.txt', 'out/b.txt'],
  },
  {
    name: "wildcard matching directories copies each one's contents",
    src: { 'd1/x': 'X', 'd2/y': 'Y', e: 'E' },
    op: { srcPaths: ['d?'], dest: '/out/' },
    paths: ['out', 'out/x', 'out/y'],
  },
  {
    name: 'wildcard in a middle component',
    src: { 'pkg/a/package.json': 'a', 'pkg/b/package.json': 'b', 'pkg/b/other': 'o' },
    op: { srcPaths: ['pkg/*/package.json'], dest: '/out/' },
    paths: ['out', 'out/package.json'],
    expect: { 'out/package.json': { content: 'b' } },
  },
  {
    name: 'missing source fails with a clear message',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['nope.txt'], dest: '/x' },
    error: { code: 'COPY_SOURCE_NOT_FOUND', message: /nope\.txt: not found/ },
  },
  {
    name: 'a wildcard matching nothing fails unless allowEmptyWildcard',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['*.none'], dest: '/x/' },
    error: { code: 'COPY_SOURCE_NOT_FOUND', message: /\*\.none: not found/ },
  },
  {
    name: 'a wildcard matching nothing is fine with allowEmptyWildcard',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['*.none'], dest: '/x/', allowEmptyWildcard: true },
    paths: [],
  },
  {
    name: 'a .dockerignore-excluded source is not found',
    src: { 'secret.env': 'S' },
    op: { srcPaths: ['secret.env'], dest: '/x', srcExcludePatterns: ['*.env'] },
    error: { code: 'COPY_SOURCE_NOT_FOUND' },
  },
  {
    name: '.dockerignore-excluded files inside a copied dir are left out',
    src: { 'app/main.js': 'm', 'app/node_modules/x/i.js': 'i', 'app/node_modules/keep.js': 'k' },
    op: {
      srcPaths: ['app'],
      dest: '/app',
      srcExcludePatterns: ['app/node_modules', '!app/node_modules/keep.js'],
    },
    paths: ['app', 'app/main.js', 'app/node_modules', 'app/node_modules/keep.js'],
  },
  {
    name: 'a symlink named as the source is followed',
    src: { real: { content: 'R', mode: 0o700 }, link: { link: 'real' } },
    op: { srcPaths: ['link'], dest: '/x' },
    expect: { x: { type: 'file', content: 'R', mode: 0o700 } },
  },
  {
    name: 'without followSymlinks the named symlink is copied as a symlink',
    src: { real: 'R', link: { link: 'real' } },
    op: { srcPaths: ['link'], dest: '/x', followSymlinks: false },
    expect: { x: { type: 'symlink', link: 'real' } },
  },
  {
    name: 'symlinks inside a copied directory stay symlinks (even dangling or absolute)',
    src: {
      'd/f': 'F',
      'd/rel': { link: 'f' },
      'd/abs': { link: '/etc/passwd' },
      'd/dangling': { link: 'nowhere' },
    },
    op: { srcPaths: ['d'], dest: '/x' },
    expect: {
      'x/rel': { type: 'symlink', link: 'f' },
      'x/abs': { type: 'symlink', link: '/etc/passwd' },
      'x/dangling': { type: 'symlink', link: 'nowhere' },
    },
  },
  {
    name: '--chown by name uses the destination passwd (primary group)',
    src: { 'a.txt': 'A', 'd/f': 'F' },
    dest: { 'etc/passwd': passwd, 'etc/group': group },
    op: { srcPaths: ['a.txt', 'd'], dest: '/out/', chown: { user: 'app' } },
    expect: {
      out: { uid: 1000, gid: 1001 },
      'out/a.txt': { uid: 1000, gid: 1001 },
      'out/f': { uid: 1000, gid: 1001 },
    },
  },
  {
    name: '--chown user:group by names',
    src: { 'a.txt': 'A' },
    dest: { 'etc/passwd': passwd, 'etc/group': group },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chown: { user: 'app', group: 'staff' } },
    expect: { 'a.txt': { uid: 1000, gid: 50 } },
  },
  {
    name: '--chown numeric uid alone sets gid to the same number',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chown: { user: '4242' } },
    expect: { 'a.txt': { uid: 4242, gid: 4242 } },
  },
  {
    name: '--chown numeric uid:gid',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chown: { user: '10', group: '20' } },
    expect: { 'a.txt': { uid: 10, gid: 20 } },
  },
  {
    name: '--chown with an unknown user name is an error',
    src: { 'a.txt': 'A' },
    dest: { 'etc/passwd': passwd },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chown: { user: 'ghost' } },
    error: { code: 'CHOWN_UNKNOWN_USER', message: /ghost/ },
  },
  {
    name: '--chown with an unknown group name is an error',
    src: { 'a.txt': 'A' },
    dest: { 'etc/passwd': passwd, 'etc/group': group },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chown: { user: 'app', group: 'ghosts' } },
    error: { code: 'CHOWN_UNKNOWN_GROUP', message: /ghosts/ },
  },
  {
    name: 'COPY --from keeps the source owner when there is no --chown',
    src: { 'a.txt': { content: 'A', uid: 1234, gid: 5678 } },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', defaultOwner: undefined },
    expect: { 'a.txt': { uid: 1234, gid: 5678 } },
  },
  {
    name: '--chmod octal applies to files and copied directories',
    src: { 'd/f': { content: 'F', mode: 0o600 }, 'd/s': { dir: true, mode: 0o700 } },
    op: { srcPaths: ['d'], dest: '/x/', chmod: '0751' },
    expect: { 'x/f': { mode: 0o751 }, 'x/s': { mode: 0o751 }, x: { mode: 0o755 } },
  },
  {
    name: '--chmod symbolic u+x,g-w,o=',
    src: { 'a.sh': { content: '#!', mode: 0o664 } },
    op: { srcPaths: ['a.sh'], dest: '/a.sh', chmod: 'u+x,g-w,o=' },
    expect: { 'a.sh': { mode: 0o740 } },
  },
  {
    name: '--chmod symbolic a+X only adds x to dirs and already-executable files',
    src: {
      'd/plain': { content: 'p', mode: 0o600 },
      'd/exe': { content: 'e', mode: 0o700 },
      'd/s': { dir: true, mode: 0o700 },
    },
    op: { srcPaths: ['d'], dest: '/x', chmod: 'a+rX' },
    expect: { 'x/plain': { mode: 0o644 }, 'x/exe': { mode: 0o755 }, 'x/s': { mode: 0o755 } },
  },
  {
    name: 'an invalid --chmod is an error',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['a.txt'], dest: '/a.txt', chmod: 'u+q' },
    error: { code: 'CHMOD_INVALID' },
  },
  {
    name: '--exclude filters inside a copied directory',
    src: { 'd/a.md': 'a', 'd/b.txt': 'b', 'd/sub/c.md': 'c', 'd/sub/keep.txt': 'k' },
    op: { srcPaths: ['d'], dest: '/x', exclude: ['*.md', 'sub/*.md'] },
    paths: ['x', 'x/b.txt', 'x/sub', 'x/sub/keep.txt'],
  },
  {
    name: '--exclude also filters wildcard matches',
    src: { 'home.txt': 'a', 'homer.bin': 'b' },
    op: { srcPaths: ['hom*'], dest: '/mydir/', exclude: ['*.txt'] },
    paths: ['mydir', 'mydir/homer.bin'],
  },
  {
    name: '--exclude with an exception re-includes below an excluded dir',
    src: { 'd/logs/a.log': 'a', 'd/logs/keep.log': 'k', 'd/x': 'x' },
    op: { srcPaths: ['d'], dest: '/x', exclude: ['logs', '!logs/keep.log'] },
    paths: ['x', 'x/logs', 'x/logs/keep.log', 'x/x'],
  },
  {
    name: '--parents keeps the source path below dest',
    src: { 'a/b/c.txt': 'C', 'a/b/d.txt': 'D', 'a/x.txt': 'X' },
    op: { srcPaths: ['a/b/c.txt', 'a/x.txt'], dest: '/out/', parents: true },
    paths: ['out', 'out/a', 'out/a/b', 'out/a/b/c.txt', 'out/a/x.txt'],
  },
  {
    name: '--parents with a wildcard and a /./ pivot',
    src: { 'src/app/one/p.json': '1', 'src/app/two/p.json': '2', 'src/app/two/other': 'o' },
    op: { srcPaths: ['src/./app/*/p.json'], dest: '/out/', parents: true },
    paths: ['out', 'out/app', 'out/app/one', 'out/app/one/p.json', 'out/app/two', 'out/app/two/p.json'],
  },
  {
    name: '--parents with a directory source copies it under its own path',
    src: { 'x/y/f': 'F', 'x/y/g/h': 'H' },
    op: { srcPaths: ['x/y'], dest: '/out', parents: true },
    paths: ['out', 'out/x', 'out/x/y', 'out/x/y/f', 'out/x/y/g', 'out/x/y/g/h'],
  },
  {
    name: 'hardlinks within one copy stay hardlinks',
    src: { 'd/a': 'same', 'd/b': { hardlink: 'd/a' }, 'd/c': 'other' },
    op: { srcPaths: ['d'], dest: '/x' },
    expect: { 'x/a': { content: 'same' }, 'x/b': { content: 'same' } },
  },
  {
    name: 'createDestPath=false requires the dest parent',
    src: { 'a.txt': 'A' },
    op: { srcPaths: ['a.txt'], dest: '/missing/a.txt', createDestPath: false },
    error: { code: 'FILEOP_DEST_PARENT_MISSING' },
  },
  {
    name: 'a dir cannot be copied over a file',
    src: { 'd/f': 'F', 'e/d': 'file' },
    dest: { 'x/d': 'file' },
    op: { srcPaths: ['d'], dest: '/x', dirContentsOnly: false },
    error: { code: 'FILEOP_NOT_A_DIRECTORY' },
  },
  {
    name: 'a FIFO is copied as a FIFO',
    src: { 'd/f': 'F' },
    op: { srcPaths: ['d'], dest: '/x' },
    paths: ['x', 'x/f', 'x/pipe'],
  },
];

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
before(() => {
  assert.equal(process.getuid?.(), 0, 'file-op integration tests need root (chown, mknod)');
});

describe('COPY corner cases', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const src = tempDir('kiln-copy-src-');
      const dest = tempDir('kiln-copy-dst-');
      roots.push(src, dest);
      build(src, c.src);
      if (c.name.startsWith('a FIFO')) execFileSync('mkfifo', [join(src, 'd/pipe')]);
      if (c.dest) build(dest, c.dest);
      const before = new Set(Object.keys(inspect(dest)));
      const run = copy({ ...COPY, ...c.op, srcRoot: src, destRoot: dest } as CopyOptions);
      if (c.error) {
        await assert.rejects(run, (e: Error & { code?: string }) => {
          assert.equal(e.code, c.error?.code, e.message);
          if (c.error?.message) assert.match(e.message, c.error.message);
          return true;
        });
        return;
      }
      await run;
      const seen = inspect(dest);
      if (c.paths) {
        assert.deepEqual(
          Object.keys(seen).filter((p) => !before.has(p) || c.paths?.includes(p)),
          c.paths,
        );
      }
      for (const [p, want] of Object.entries(c.expect ?? {})) {
        if (want === null) {
          assert.equal(seen[p], undefined, `${p} should not exist`);
          continue;
        }
        assert.ok(seen[p], `${p} should exist; have ${Object.keys(seen).join(', ')}`);
        for (const [k, v] of Object.entries(want)) assert.equal(seen[p][k as keyof Seen], v, `${p}.${k}`);
      }
      if (c.name.startsWith('hardlinks')) {
        assert.equal(seen['x/a'].ino, seen['x/b'].ino);
        assert.notEqual(seen['x/a'].ino, seen['x/c'].ino);
      }
      if (c.name.startsWith('a FIFO')) assert.equal(seen['x/pipe'].type, 'other');
    });
  }
});

describe('COPY --from keeps extended attributes when asked', () => {
  it('copies user.* and security.capability, surviving --chown', async () => {
    const src = tempDir('kiln-xattr-src-');
    const dest = tempDir('kiln-xattr-dst-');
    roots.push(src, dest);
    build(src, { 'bin/ping': { content: 'ELF', mode: 0o755 }, 'bin/plain': 'x' });
    execFileSync('setfattr', ['-n', 'user.kiln', '-v', 'hello', join(src, 'bin/ping')]);
    execFileSync('setcap', ['cap_net_raw+ep', join(src, 'bin/ping')]);
    await copy({
      ...COPY,
      defaultOwner: undefined,
      srcRoot: src,
      srcPaths: ['bin'],
      destRoot: dest,
      dest: '/usr/bin/',
      chown: { user: '1', group: '1' },
      xattrs: true,
    });
    const dump = execFileSync('getfattr', ['-d', '-m', '-', join(dest, 'usr/bin/ping')], {
      encoding: 'utf8',
    });
    assert.match(dump, /user\.kiln="hello"/);
    assert.match(
      execFileSync('getcap', [join(dest, 'usr/bin/ping')], { encoding: 'utf8' }),
      /cap_net_raw[=+]ep/,
    );
    assert.equal(inspect(dest)['usr/bin/ping'].uid, 1);
  });
});
