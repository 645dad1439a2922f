/**
 * Fuzz target: hostile build contexts (odd names — bytes that are not UTF-8, 255-byte names,
 * trees deeper than PATH_MAX —, symlinks to / and to the host, FIFOs, sockets, devices, hard
 * links, mode-000 files, archives, and now and then a thread changing the tree during the case)
 * with random .dockerignore files and COPY sources and flags, through the context checksum and
 * fileops copy() into a destination root that itself holds symlinks out (as a base image may).
 * Besides "KilnErrors only": the sentinel is untouched, nothing appears beside the roots, the
 * context is unchanged when nothing changed it, and no host content reaches the destination.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  fchmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checksum } from '../../../src/context/checksum.ts';
import { DigestCache } from '../../../src/context/digestcache.ts';
import { copy } from '../../../src/fileops/copy.ts';
import { readDockerignore } from '../../../src/frontend/dockerignore/index.ts';
import * as fs from '../../../src/sys/fs.ts';
import { encodePath } from '../../../src/sys/fsname.ts';
import { mknodSync } from '../../../src/sys/mknod.ts';
import { makeSentinel, SECRET, type Sentinel } from '../sentinel.ts';
import { deepChain, emptyTree, walkTree } from './fdtree.ts';
import type { MutateJob } from './mutator.ts';
import type { Rng } from './random.ts';
import { randomTar } from './tar.ts';
import type { FuzzTarget } from './target.ts';

interface Scratch {
  dir: string;
  ctx: string;
  dest: string;
  sentinel: Sentinel;
  cache: DigestCache;
  mutator: Worker;
  flag: Int32Array;
}

/** What the scratch directory holds; anything else appearing there was written out of bounds. */
const SCRATCH = ['ctx', 'dest', 'mut', 'sentinel', 'state'];

const byteOf = (byte: number) => String.fromCharCode(0xdc00 + byte);

function name(rng: Rng): string {
  switch (rng.int(10)) {
    case 0:
      return `n${byteOf(0x80 + rng.int(128))}${rng.chance(0.5) ? byteOf(0xff) : 'x'}`;
    case 1:
      return rng.chance(0.5) ? 'l'.repeat(255) : `${'é'.repeat(127)}x`;
    case 2:
      return 'L'.repeat(256); // the kernel refuses it: the entry is left out
    case 3:
      return rng.string(1 + rng.int(6), 'ab*?[]\\!.# \t\n-');
    default:
      return rng.pick([
        'a',
        'b',
        'dir',
        'sub',
        'x y',
        'é',
        '.hidden',
        '..a',
        'a.txt',
        'Dockerfile',
        '!x',
        '#c',
      ]);
  }
}

/** chmod of `abs` itself, never of what a symlink there points to. */
function chmodNoFollow(abs: string, mode: number): void {
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** Modes of host directories a stray chmod through a symlink would reach first. */
function hostModes(): string {
  return ['/', '/etc', '/tmp'].map((d) => `${d}=${lstatSync(d).mode.toString(8)}`).join(' ');
}
const HOST_MODES = hostModes();

interface Tree {
  /** Every name made, relative to the context. */
  paths: string[];
  dirs: string[];
  files: string[];
  sockets: Server[];
}

async function socket(abs: string, servers: Server[]): Promise<void> {
  const server = createServer();
  server.on('error', () => {});
  server.listen(abs);
  await Promise.race([once(server, 'listening'), once(server, 'error')]);
  servers.push(server);
}

/** A random context under `ctx`; host paths attacks aim at are in `outside`. */
async function makeTree(rng: Rng, ctx: string, outside: string[]): Promise<Tree> {
  const t: Tree = { paths: [], dirs: [''], files: [], sockets: [] };
  for (let n = 1 + rng.size(40); n > 0; n--) {
    const parent = rng.pick(t.dirs);
    const rel = parent === '' ? name(rng) : `${parent}/${name(rng)}`;
    const abs = join(ctx, rel);
    try {
      const kind = rng.int(20);
      if (kind < 7) {
        fs.mkdirSync(abs);
        // A file written through node:fs by its bytes: the name may not be UTF-8.
        writeFileSync(encodePath(join(abs, 'f')), rng.bytes(rng.size(100)), { flag: 'wx' });
        t.dirs.push(rel);
        t.files.push(`${rel}/f`);
      } else if (kind < 12) {
        // 'wx': a name an earlier symlink to the host took is not written through.
        const data = rng.chance(0.05) ? randomTar(rng, outside[0]!) : rng.bytes(rng.size(3000));
        writeFileSync(encodePath(abs), data, { flag: 'wx' });
        t.files.push(rel);
      } else if (kind < 16) {
        const target = rng.chance(0.6)
          ? rng.pick([...outside, '/', '/etc', '../'.repeat(1 + rng.int(8)) + 'sentinel/secret', '..', '.'])
          : rng.pick([...t.paths, 'missing', rel]);
        fs.symlinkSync(target || '.', abs);
      } else if (kind < 18) {
        if (t.files.length === 0) continue;
        fs.linkSync(join(ctx, rng.pick(t.files)), abs);
      } else if (kind === 18) {
        mknodSync(abs, rng.pick(['fifo', 'char', 'block'] as const), 0o644, 1, rng.pick([3, 5]));
      } else {
        await socket(abs, t.sockets);
      }
      // Unreadable (to anyone but root), by descriptor opened O_NOFOLLOW: chmod(2) by name
      // follows a symlink, and an earlier version of this target set / and /etc to 000 that way.
      if (kind < 12 && rng.chance(0.05)) chmodNoFollow(abs, 0);
      t.paths.push(rel);
    } catch {
      // A name the kernel refuses (too long, a socket path over 107 bytes): left out.
    }
  }
  if (rng.chance(0.05)) {
    // A chain deeper than PATH_MAX, and a name for it.
    const levels = Array.from({ length: 10 + rng.int(30) }, (_, i) => `${i}`.padStart(200, 'd'));
    if (deepChain(ctx, levels, Buffer.from('deep')) > 0)
      t.paths.push(levels.slice(0, 1 + rng.int(3)).join('/'));
  }
  return t;
}

function pattern(rng: Rng, t: Tree): string {
  const base = rng.chance(0.6) && t.paths.length ? rng.pick(t.paths) : name(rng);
  const p = rng.pick([
    base,
    `${base}/**`,
    `**/${base.split('/').pop()}`,
    '*',
    '*/*',
    '[',
    '[a-',
    'a\\',
    '..',
    '../x',
    '/',
    '!',
    '',
  ]);
  return rng.chance(0.2) ? `!${p}` : p;
}

function source(rng: Rng, t: Tree, outside: string[]): string {
  const base = t.paths.length && rng.chance(0.7) ? rng.pick(t.paths) : name(rng);
  return rng.pick([
    base,
    base,
    `${base}/`,
    `./${base}`,
    `/${base}`,
    `${base}/./f`,
    `./${base}/*`,
    '.',
    '/',
    '*',
    'a*',
    '*/*',
    '[',
    '?',
    `../${base}`,
    rng.pick(outside),
  ]);
}

/** A destination root as a hostile base image leaves it: symlinks out, a real directory. */
function plantDest(dest: string, sentinel: string, scratch: string): void {
  fs.symlinkSync(sentinel, join(dest, 'out'));
  fs.symlinkSync(join(sentinel, 'etc'), join(dest, 'etc'));
  fs.symlinkSync(join(sentinel, 'secret'), join(dest, 'link-file'));
  fs.symlinkSync(scratch, join(dest, 'abs'));
  fs.symlinkSync('../../../..', join(dest, 'up'));
  fs.mkdirSync(join(dest, 'app'));
}

/** Names, kinds and sizes of a tree (what a COPY must never change in its source). */
function record(dir: string): string[] {
  const out: string[] = [];
  walkTree(dir, (rel, _at, st) => out.push(`${rel}\t${st.mode}\t${st.size}\t${st.mtimeMs}`));
  return out;
}

/** Fail when a regular file in the destination holds the sentinel's secret. */
function assertNoHostContent(dest: string): void {
  walkTree(dest, (rel, at, st) => {
    if (!st.isFile() || st.size > 1 << 20) return;
    assert.ok(!readFileSync(encodePath(at)).includes(SECRET), `host content reached the destination: ${rel}`);
  });
}

export const target: FuzzTarget<Scratch> = {
  name: 'context',
  caseTimeoutMs: 20_000,
  async setup() {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'kiln-fuzz-context-')));
    for (const d of ['ctx', 'dest', 'mut', 'state']) mkdirSync(join(dir, d));
    const mutator = new Worker(new URL('./mutator.ts', import.meta.url));
    const flag = new Int32Array(new SharedArrayBuffer(4));
    return {
      dir,
      ctx: join(dir, 'ctx'),
      dest: join(dir, 'dest'),
      sentinel: makeSentinel(join(dir, 'sentinel')),
      cache: DigestCache.open(join(dir, 'state', 'digests.db')),
      mutator,
      flag: flag,
    };
  },
  async teardown(s) {
    await s.mutator.terminate();
    emptyTree(s.dir);
    rmSync(s.dir, { recursive: true, force: true });
  },
  async run(rng, s) {
    emptyTree(s.ctx);
    emptyTree(s.dest);
    const sentinel = s.sentinel.dir;
    const outside = [sentinel, join(sentinel, 'secret'), join(sentinel, 'etc'), s.dir];
    const tree = await makeTree(rng, s.ctx, outside);
    plantDest(s.dest, sentinel, s.dir);
    const patterns = rng.chance(0.5) ? Array.from({ length: rng.size(6) }, () => pattern(rng, tree)) : [];
    const ignore = readDockerignore(encodePath(patterns.join(rng.pick(['\n', '\r\n']))) as Buffer);
    const srcPaths = Array.from({ length: 1 + rng.int(3) }, () => source(rng, tree, outside));
    const exclude = rng.chance(0.2) ? [pattern(rng, tree)] : undefined;
    const wildcard = rng.chance(0.8);
    const follow = rng.chance(0.7);
    const mutating = tree.paths.length > 0 && rng.chance(0.15);
    const before = mutating ? [] : record(s.ctx);
    const stopped = mutating ? once(s.mutator, 'message') : undefined;
    if (mutating) {
      Atomics.store(s.flag, 0, 1);
      const job: MutateJob = {
        ctx: s.ctx,
        paths: tree.paths,
        targets: outside,
        tmp: join(s.dir, 'mut'),
        seed: rng.int(2 ** 31),
        flag: s.flag.buffer as SharedArrayBuffer,
      };
      s.mutator.postMessage(job);
    }
    try {
      checksum({
        root: s.ctx,
        paths: srcPaths,
        wildcard,
        followSymlinks: follow,
        excludePatterns: ignore,
        copyExcludePatterns: exclude,
        allowEmptyWildcard: rng.chance(0.3),
        localContext: true,
        cache: rng.chance(0.5) ? s.cache : undefined,
      });
      await copy({
        srcRoot: s.ctx,
        srcPaths,
        destRoot: s.dest,
        dest: rng.pick([
          '/',
          '/app/',
          '/app',
          'out/x',
          '/out/',
          '/etc/',
          'abs/y',
          '/link-file',
          'up/z',
          '.',
          '/a/b/',
        ]),
        chown: rng.chance(0.15)
          ? rng.pick([{ uid: 1000, gid: 1000 }, { user: 'root' }, { user: '0', group: 'x' }])
          : undefined,
        defaultOwner: { uid: 0, gid: 0 },
        chmod: rng.chance(0.15)
          ? rng.pick(['755', '0644', 'u+x', 'a=rwX', '9999', 'g-w,o=', 'bad', '+s'])
          : undefined,
        followSymlinks: follow,
        dirContentsOnly: rng.chance(0.9),
        allowWildcard: wildcard,
        allowEmptyWildcard: rng.chance(0.3),
        createDestPath: rng.chance(0.9),
        exclude,
        srcExcludePatterns: ignore,
        localContext: true,
        parents: rng.chance(0.15),
        unpack: rng.chance(0.2),
        mtime: rng.chance(0.1) ? new Date(rng.int(2 ** 31) * 1000) : undefined,
        xattrs: rng.chance(0.05),
      });
    } finally {
      Atomics.store(s.flag, 0, 0);
      await stopped;
      try {
        s.sentinel.assertUntouched();
        assert.equal(hostModes(), HOST_MODES, 'the modes of host directories changed');
        assert.deepEqual(readdirSync(s.dir).sort(), SCRATCH, 'something was created beside the roots');
        if (!mutating) assert.deepEqual(record(s.ctx), before, 'the context was changed');
        assertNoHostContent(s.dest);
      } finally {
        for (const server of tree.sockets) server.close();
      }
    }
  },
};
