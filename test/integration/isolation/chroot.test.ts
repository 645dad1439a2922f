/**
 * `--isolation chroot`: root with only a container's default capabilities (Docker's set: no
 * CAP_SYS_ADMIN, so no mounts and no namespaces) builds a multi-stage Dockerfile with RUN, COPY
 * --chown, a USER, a cache mount, a secret, a bind from another stage and a WORKDIR, and gets the
 * image root gets in `oci` mode; chroot mode is chosen by itself there. What it cannot do says so
 * at the instruction's line.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Dirs, kilnAs, layerOwnership, rootWithBusybox, tempDirs, writeContext } from './helpers.ts';

/** Docker's default capabilities, as setpriv spells them: what a pod or `docker run` gets. */
const DOCKER_CAPS =
  '-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write';

const DOCKERFILE = `FROM busybox AS src
RUN echo from-stage > /x

FROM busybox
RUN echo 'bob:x:1234:1234::/home/bob:/bin/sh' >> /etc/passwd && mkdir -p /data /home/bob && chown bob /data /home/bob
COPY --chown=1234:55 a.txt /data/a.txt
USER bob
RUN echo made > /data/byuser.txt
USER root
WORKDIR /data
RUN --mount=type=cache,target=/cache echo c >> /cache/x && cp /cache/x cached.txt
RUN --mount=type=secret,id=s cat /run/secrets/s > secret-copy.txt
RUN --mount=type=bind,from=src,target=/mnt cp /mnt/x from-stage.txt && test ! -e /mnt/y && ls /dev/null
`;
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

let dirs: Dirs;
let context: string;
let secret: string;

before(async () => {
  dirs = await tempDirs('chroot');
  context = await writeContext(join(dirs.dir, 'ctx'), { Dockerfile: DOCKERFILE, 'a.txt': 'a\n' });
  secret = join(dirs.dir, 'secret');
  writeFileSync(secret, 'sssh\n');
});
after(() => dirs?.close());

/** bin/kiln as root with the default capabilities of a container and nothing more. */
function kilnInContainer(args: string[], env: Record<string, string>) {
  return kilnAs(undefined, args, env, ['setpriv', `--bounding-set=${DOCKER_CAPS}`, '--inh-caps=-all', '--']);
}

test("root with a container's default capabilities builds in chroot mode the image oci mode builds", async () => {
  const ociRoot = await rootWithBusybox(join(dirs.dir, 'oci-root'));
  const chRoot = await rootWithBusybox(join(dirs.dir, 'chroot-root'));
  const flags = ['--secret', `id=s,src=${secret}`, '-t', 'same', context];
  const oci = kilnAs(undefined, ['build', '--isolation', 'oci', '-q', ...flags], {
    KILN_ROOT: ociRoot,
    ...EPOCH,
  });
  assert.equal(oci.code, 0, oci.err);
  const ch = kilnInContainer(['build', '--progress', 'plain', ...flags], { KILN_ROOT: chRoot, ...EPOCH });
  assert.equal(ch.code, 0, ch.err);
  assert.match(ch.err, /isolation: chroot \(root without CAP_SYS_ADMIN/);
  assert.equal(ch.out.trim(), oci.out.trim(), 'the image IDs differ');
  const layers = await layerOwnership(chRoot, 'same');
  assert.deepEqual(layers, await layerOwnership(ociRoot, 'same'));
  const paths = layers.flat().map((e) => e.path);
  for (const p of ['data/from-stage.txt', 'data/secret-copy.txt', 'data/cached.txt', 'data/byuser.txt'])
    assert.ok(paths.includes(p), `no ${p} in the layers`);
  for (const leak of ['cache', 'mnt/x', 'run/secrets/s', 'dev/null', 'etc/hosts', 'etc/resolv.conf'])
    assert.ok(!paths.includes(leak), `${leak} leaked into a layer`);
  // The cache mount kept its contents for the next build: moved back out of the root.
  const again = kilnInContainer(
    ['build', '--progress', 'plain', '--no-cache', '--secret', `id=s,src=${secret}`, '-t', 'again', context],
    { KILN_ROOT: chRoot, ...EPOCH },
  );
  assert.equal(again.code, 0, again.err);
  const cached = (await layerOwnership(chRoot, 'again')).flat().find((e) => e.path === 'data/cached.txt');
  assert.ok(cached);
});

test('what chroot mode cannot do is refused at the instruction, naming what would work', async () => {
  const root = await rootWithBusybox(join(dirs.dir, 'refuse-root'));
  const ctx = await writeContext(join(dirs.dir, 'ctx-none'), {
    Dockerfile: 'FROM busybox\nRUN true\nRUN --network=none echo offline\n',
  });
  const r = kilnInContainer(['build', ctx], { KILN_ROOT: root });
  assert.notEqual(r.code, 0);
  assert.match(r.err, /Dockerfile:3: --isolation chroot: RUN --network=none .* cannot be honoured/);
  assert.match(r.err, /--isolation rootless or oci/);
  // oci mode asked for where it cannot work: the privilege, and the mode that would.
  const oci = kilnInContainer(['build', '--isolation', 'oci', ctx], { KILN_ROOT: root });
  assert.notEqual(oci.code, 0);
  assert.match(oci.err, /--isolation oci needs root with CAP_SYS_ADMIN .*root without CAP_SYS_ADMIN/);
  assert.match(oci.err, /use --isolation chroot in a container without privileges/);
});

test("a RUN that swaps a mount target's parent for a link to the host fails the step and touches nothing there", async () => {
  const root = await rootWithBusybox(join(dirs.dir, 'swap-root'));
  const sentinel = join(dirs.dir, 'sentinel');
  mkdirSync(join(sentinel, 'cache'), { recursive: true });
  writeFileSync(join(sentinel, 'cache', 'keep'), 'host file\n');
  const ctx = await writeContext(join(dirs.dir, 'ctx-swap'), {
    Dockerfile: `FROM busybox\nRUN mkdir /c\nRUN --mount=type=cache,target=/c/cache echo x > /c/cache/y && mv /c /c.old && ln -s ${sentinel} /c\n`,
  });
  const r = kilnInContainer(['build', ctx], { KILN_ROOT: root });
  assert.notEqual(r.code, 0);
  assert.match(
    r.err,
    /Dockerfile:3: --isolation chroot: the RUN replaced a directory above \/c\/cache with a link/,
  );
  assert.deepEqual(readdirSync(join(sentinel, 'cache')), ['keep']);
  assert.equal(readFileSync(join(sentinel, 'cache', 'keep'), 'utf8'), 'host file\n');
});
