/**
 * `--isolation rootless`: a user with subordinate ids builds a Dockerfile with RUN, COPY --chown,
 * a file made by a USER and a cache mount, and gets the very image root gets in `oci` mode (same
 * digest with SOURCE_DATE_EPOCH; every layer entry with the same owner). What a user cannot do
 * says which privilege is missing and what would work.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertRepoReachable,
  type Dirs,
  ensureUser,
  KILN,
  kilnAs,
  layerOwnership,
  PLAIN_USER,
  rootWithBusybox,
  TEST_USER,
  type TestUser,
  tempDirs,
  writeContext,
} from './helpers.ts';

const DOCKERFILE = `FROM busybox
RUN echo 'bob:x:1234:1234::/home/bob:/bin/sh' >> /etc/passwd && mkdir -p /data /home/bob && chown bob /data /home/bob
COPY --chown=1234:55 a.txt /data/a.txt
COPY b.txt /data/root-owned.txt
USER bob
RUN echo made > /data/byuser.txt && mkdir /home/bob/dir
USER root
RUN --mount=type=cache,target=/cache echo c >> /cache/x && cp /cache/x /data/cached.txt && chown 7:8 /data/cached.txt
`;
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

let dirs: Dirs;
let user: TestUser;
let ociRoot: string;
let userRoot: string;
let context: string;
/** The image ID of the first test's build in oci mode, for later builds of the same Dockerfile. */
let ociImageId = '';

before(async () => {
  user = ensureUser(TEST_USER, true);
  assertRepoReachable(user);
  dirs = await tempDirs('rootless');
  ociRoot = await rootWithBusybox(join(dirs.dir, 'oci-root'));
  userRoot = await rootWithBusybox(join(dirs.dir, 'user-root'), user);
  context = await writeContext(
    join(dirs.dir, 'ctx'),
    { Dockerfile: DOCKERFILE, 'a.txt': 'a\n', 'b.txt': 'b\n' },
    user,
  );
});
after(() => dirs?.close());

test('a non-root user builds the same image as root in oci mode, ownership and all', async () => {
  const oci = kilnAs(
    undefined,
    ['build', '--isolation', 'oci', '--network', 'none', '-q', '-t', 'same', context],
    {
      KILN_ROOT: ociRoot,
      ...EPOCH,
    },
  );
  assert.equal(oci.code, 0, oci.err);
  // No --isolation: chosen, and said under the definition step.
  const rl = kilnAs(user, ['build', '--network', 'none', '--progress', 'plain', '-t', 'same', context], {
    KILN_ROOT: userRoot,
    ...EPOCH,
  });
  assert.equal(rl.code, 0, rl.err);
  assert.match(rl.err, /isolation: rootless \(non-root user/);
  assert.equal(rl.out.trim(), oci.out.trim(), 'the image IDs differ');
  ociImageId = oci.out.trim();
  const [ociLayers, rlLayers] = [
    await layerOwnership(ociRoot, 'same'),
    await layerOwnership(userRoot, 'same'),
  ];
  assert.deepEqual(rlLayers, ociLayers);
  const all = rlLayers.flat();
  const owner = (p: string) => {
    const e = all.findLast((f) => f.path === p);
    assert.ok(e, `no ${p} in the layers`);
    return `${e.uid}:${e.gid}`;
  };
  assert.equal(owner('data/a.txt'), '1234:55');
  assert.equal(owner('data/root-owned.txt'), '0:0');
  assert.equal(owner('data/byuser.txt'), '1234:1234');
  assert.equal(owner('home/bob/dir'), '1234:1234');
  assert.equal(owner('data/cached.txt'), '7:8');
  assert.ok(!all.some((f) => f.path.startsWith('cache/')), 'the cache mount leaked into a layer');
  // Overlay mounts inside the user namespace from kernel 5.11 (with userxattr); older kernels copy.
  const [major, minor] = release().split('.').map(Number);
  const driver = readFileSync(join(userRoot, 'snapshots', 'driver'), 'utf8').trim();
  assert.equal(driver, major > 5 || (major === 5 && minor >= 11) ? 'overlay' : 'native');
  // The snapshots hold files of subordinate ids the user cannot remove on the host: the prune
  // runs in the namespace too, and removes them.
  const before = snapshotDirs(userRoot);
  assert.ok(before > 0);
  const prune = kilnAs(user, ['builder', 'prune', '-a', '-f'], { KILN_ROOT: userRoot });
  assert.equal(prune.code, 0, prune.err);
  assert.ok(snapshotDirs(userRoot) < before, `builder prune left all ${before} snapshots`);
});

function snapshotDirs(root: string): number {
  return readdirSync(join(root, 'snapshots', 'snapshots')).length;
}

test("the rootless kiln keeps the user's state root, and kiln unshare is root with the subordinate ids", () => {
  const r = kilnAs(user, ['unshare', 'sh', '-c', 'id -u; echo $KILN_ROOT; cat /proc/self/uid_map'], {
    XDG_DATA_HOME: join(dirs.dir, 'xdg'),
  });
  assert.equal(r.code, 0, r.err);
  const [uid, root, ...map] = r.out.trim().split('\n');
  assert.equal(uid, '0');
  assert.equal(root, join(dirs.dir, 'xdg', 'kiln'));
  assert.deepEqual(
    map.map((l) => l.trim().split(/\s+/)),
    [
      ['0', String(user.uid), '1'],
      ['1', '100000', '65536'],
    ],
  );
});

test('a privilege that is missing is named, with the mode that would work and how to get it', () => {
  const oci = kilnAs(user, ['build', '--isolation', 'oci', context], { KILN_ROOT: userRoot });
  assert.notEqual(oci.code, 0);
  assert.match(oci.err, /--isolation oci needs root with CAP_SYS_ADMIN/);
  assert.match(oci.err, /use --isolation rootless/);
  const chroot = kilnAs(user, ['build', '--isolation', 'chroot', context], { KILN_ROOT: userRoot });
  assert.notEqual(chroot.code, 0);
  assert.match(chroot.err, /--isolation chroot needs root with CAP_SYS_CHROOT/);
  const plain = ensureUser(PLAIN_USER, false);
  const plainRoot = join(dirs.dir, 'plain-root');
  mkdirSync(plainRoot);
  chownSync(plainRoot, plain.uid, plain.gid);
  const none = kilnAs(plain, ['build', context], { KILN_ROOT: plainRoot });
  assert.notEqual(none.code, 0);
  assert.match(none.err, /needs subordinate ids for uid \d+: none in \/etc\/subuid or \/etc\/subgid/);
  assert.match(
    none.err,
    new RegExp(`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${PLAIN_USER}`),
  );
  // An owner beyond the subordinate range: the COPY's line, the reason and the fix, not a raw EINVAL.
  writeFileSync(join(dirs.dir, 'Dockerfile.wide'), 'FROM busybox\nCOPY --chown=200000:200000 a.txt /a.txt\n');
  const far = kilnAs(user, ['build', '-f', join(dirs.dir, 'Dockerfile.wide'), context], {
    KILN_ROOT: userRoot,
  });
  assert.notEqual(far.code, 0);
  assert.match(
    far.err,
    /Dockerfile\.wide:2: COPY gives \/a\.txt an owner outside the 65537 uids\/gids kiln's user namespace maps/,
  );
  assert.match(far.err, /usermod --add-subuids/);
  assert.doesNotMatch(far.err, /^error: EINVAL/m);
});

test("a user namespace the host refuses is kiln's error with the way out; inside, a command's stderr and status are its own", () => {
  // newuidmap refusing the mapping, as it does where user namespaces are restricted: unshare runs
  // the first newuidmap on its PATH, so a directory put first holds one that refuses.
  const bin = join(dirs.dir, 'refusing-bin');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  writeFileSync(
    join(bin, 'newuidmap'),
    '#!/bin/sh\necho "newuidmap: write to uid_map failed: Operation not permitted" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  const refused = kilnAs(user, ['build', context], { KILN_ROOT: userRoot, PATH: `${bin}:/usr/bin:/bin` });
  assert.notEqual(refused.code, 0);
  assert.match(
    refused.err,
    /error: --isolation rootless: cannot make kiln's user namespace: newuidmap: write to uid_map failed: Operation not permitted/,
  );
  assert.match(refused.err, /run kiln as root with --isolation chroot/);
  assert.doesNotMatch(refused.err, /^unshare:/m);
  const own = kilnAs(user, ['unshare', 'sh', '-c', 'echo own words >&2; exit 7'], { KILN_ROOT: userRoot });
  assert.equal(own.code, 7);
  assert.equal(own.err, 'own words\n');
});

test('the default network runs through slirp4netns, or says why the user cannot open /dev/net/tun', () => {
  const tun =
    spawnSync('runuser', ['-u', user.name, '--', 'sh', '-c', 'exec 3<>/dev/net/tun'], {}).status === 0;
  const dockerfile = join(dirs.dir, 'Dockerfile.net');
  writeFileSync(dockerfile, 'FROM busybox\nRUN ip -o addr show eth0 | grep -q 10.0.2.100\n');
  const r = kilnAs(user, ['build', '-f', dockerfile, context], { KILN_ROOT: userRoot });
  if (tun) {
    assert.equal(r.code, 0, r.err);
  } else {
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /Dockerfile\.net:2: cannot set up the RUN's network in --isolation rootless: \/dev\/net\/tun is not readable and writable by this user/,
    );
    assert.match(r.err, /chmod 0666 \/dev\/net\/tun .*--network=none/);
  }
});

test('^C to the kiln the user started cancels the RUN inside the namespace, leaving no container', async () => {
  const dockerfile = join(dirs.dir, 'Dockerfile.sleep');
  writeFileSync(dockerfile, 'FROM busybox\nRUN sleep 47\n');
  const child = spawn(
    'runuser',
    [
      '-u',
      user.name,
      '--',
      'env',
      `KILN_ROOT=${userRoot}`,
      KILN,
      'build',
      '--network',
      'none',
      '-f',
      dockerfile,
      context,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const sleeping = () => spawnSync('pgrep', ['-u', user.name, '-f', 'sleep 47']).status === 0;
  for (let i = 0; i < 300 && !sleeping(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(sleeping(), `the RUN never started:\n${err}`);
  // The kiln runuser started (the outer one, on the host side of the namespace).
  const outer = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')[0];
  assert.ok(outer, 'no kiln under runuser');
  process.kill(Number(outer), 'SIGINT');
  assert.equal(await exited, 130, err);
  assert.match(err, /was canceled/);
  assert.doesNotMatch(
    err,
    /signal again to exit now[\s\S]*signal again to exit now/,
    'the signal arrived twice',
  );
  assert.ok(!sleeping(), 'the RUN outlived the build');
});

test("working containers (from, run, commit, rm) run in the user's namespace too, owners kept", async () => {
  const env = { KILN_ROOT: userRoot };
  const from = kilnAs(user, ['from', 'busybox'], env);
  assert.equal(from.code, 0, from.err);
  const c = from.out.trim();
  const run = kilnAs(
    user,
    ['run', '--network', 'none', c, '--', 'sh', '-c', 'echo hi > /made && chown 1234:55 /made'],
    env,
  );
  assert.equal(run.code, 0, run.err);
  const commit = kilnAs(user, ['commit', c, 'working:1'], env);
  assert.equal(commit.code, 0, commit.err);
  assert.equal(kilnAs(user, ['rm', c], env).code, 0);
  const top = (await layerOwnership(userRoot, 'working:1')).at(-1);
  assert.deepEqual(top, [{ path: 'made', uid: 1234, gid: 55, mode: 0o644 }]);
});

test('root of a user namespace kiln did not make (a rootless container) builds rootless, same image', async () => {
  // A root of its own: the cache mount of the first test's root has its line already.
  const root = await rootWithBusybox(join(dirs.dir, 'container-root'), user);
  // kiln unshare, with kiln's own markers removed, stands in for a rootless container.
  const r = kilnAs(
    user,
    [
      'unshare',
      'env',
      '-u',
      '_KILN_IN_USERNS',
      '-u',
      'KILN_ISOLATION',
      'SOURCE_DATE_EPOCH=1700000000',
      KILN,
      'build',
      '--network',
      'none',
      '--progress',
      'plain',
      '-t',
      'in-container',
      context,
    ],
    { KILN_ROOT: root },
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /isolation: rootless \(root of a user namespace\)/);
  assert.ok(ociImageId, 'the first test builds the oci image this one compares with');
  assert.equal(r.out.trim(), ociImageId);
});

test('a fully cached rootless build runs outside the user namespace: same image, one history entry each', async () => {
  // unshare, found first on PATH, counts the times kiln enters its namespace and does so.
  const bin = join(dirs.dir, 'counting-bin');
  const count = join(dirs.dir, 'unshare-count');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  writeFileSync(count, '');
  chownSync(count, user.uid, user.gid);
  writeFileSync(join(bin, 'unshare'), `#!/bin/sh\necho x >> ${count}\nexec /usr/bin/unshare "$@"\n`, {
    mode: 0o755,
  });
  const entered = () => readFileSync(count, 'utf8').length / 2;
  const root = await rootWithBusybox(join(dirs.dir, 'outside-root'), user);
  const ctx = await writeContext(
    join(dirs.dir, 'outside-ctx'),
    {
      Dockerfile: 'FROM busybox\nCOPY a.txt /a.txt\nRUN cp /a.txt /b.txt && chown 7:8 /b.txt\n',
      'a.txt': 'one\n',
    },
    user,
  );
  const env = { KILN_ROOT: root, PATH: `${bin}:/usr/bin:/bin`, ...EPOCH };
  const build = (...extra: string[]) =>
    kilnAs(user, ['build', '--network', 'none', '--progress', 'plain', '-t', 'outside', ...extra, ctx], env);
  const cold = build();
  assert.equal(cold.code, 0, cold.err);
  assert.equal(entered(), 1);
  const warm = build();
  assert.equal(warm.code, 0, warm.err);
  assert.equal(entered(), 1, 'the cached build entered the namespace');
  assert.equal(warm.out, cold.out, 'the image IDs differ');
  assert.match(
    warm.err,
    /isolation: rootless \(non-root user; every step cached: outside kiln's user namespace\)/,
  );
  assert.match(warm.err, /RUN cp \/a\.txt \/b\.txt && chown 7:8 \/b\.txt\n#\d+ CACHED/);
  // A changed file: tried outside, then built inside, and only that build is in the history.
  writeFileSync(join(ctx, 'a.txt'), 'two\n');
  const changed = build();
  assert.equal(changed.code, 0, changed.err);
  assert.equal(entered(), 2);
  assert.notEqual(changed.out, cold.out);
  assert.equal((changed.err.match(/load build definition/g) ?? []).length, 1, 'progress shown twice');
  const top = (await layerOwnership(root, 'outside')).at(-1);
  assert.deepEqual(top, [{ path: 'b.txt', uid: 7, gid: 8, mode: 0o644 }]);
  // An output the store cannot answer (files of the snapshot) goes inside without trying.
  const out = join(dirs.dir, 'outside-out');
  mkdirSync(out);
  chownSync(out, user.uid, user.gid);
  const local = build('--output', `type=local,dest=${out}`);
  assert.equal(local.code, 0, local.err);
  assert.equal(entered(), 3);
  assert.equal(readFileSync(join(out, 'b.txt'), 'utf8'), 'two\n');
  const history = kilnAs(user, ['history', '--format', 'json'], env);
  assert.equal(history.code, 0, history.err);
  const results = (JSON.parse(history.out) as { result: string }[]).map((b) => b.result);
  assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok']);
});
