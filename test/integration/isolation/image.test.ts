/**
 * kiln's own image (the repository's Dockerfile), built by kiln itself and loaded into the local
 * Docker Engine, then run the way a default pod or CI job runs it — `docker run` with no
 * --privileged, no added capabilities and Docker's default seccomp profile — where it builds W1,
 * W2 and a multi-stage Dockerfile with RUN, COPY and a cache mount, pushes the image and its
 * cache to the test registry, and a fresh container builds the same from that cache.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeW1, makeW2, W1_SMALL_FILES } from '../../../bench/workloads.ts';
import { sharedRegistry } from '../../../src/testing/registry.ts';
import { type Dirs, rootWithBusybox, tempDirs, writeContext } from './helpers.ts';
import {
  DOCKER_DEFAULT_CAPEFF,
  docker,
  ensureEngine,
  hostKiln,
  kilnBaseTarball,
  REPO,
  removeDockerImage,
  runInContainer,
} from './kiln-image.ts';

const APP_DOCKERFILE = `FROM busybox AS deps
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/runs \\
 && mkdir /deps && echo "deps built after $(wc -l < /var/cache/app/runs) run(s)" > /deps/version
FROM busybox
COPY app.txt /app/app.txt
COPY --from=deps /deps /app/deps
RUN cat /app/app.txt /app/deps/version > /app/result
`;

let dirs: Dirs;
let reg: string;
const image = `kiln-image-test:${process.pid}`;
const app = () => `${reg}/kiln-image-test/app:${process.pid}`;
const cacheRef = () => `${reg}/kiln-image-test/app-cache:${process.pid}`;
let w1Files = 0;
let hostRoot: string;
const EPOCH = '1700000000';

/** The manifest digest a registry serves for `ref`, as skopeo (an independent client) reads it. */
function manifestDigest(ref: string): string {
  const r = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  assert.equal(r.status, 0, r.stderr?.toString());
  return `sha256:${createHash('sha256').update(r.stdout).digest('hex')}`;
}

before(async () => {
  ensureEngine();
  dirs = await tempDirs('image');
  reg = (await sharedRegistry()).host;
  const host = await rootWithBusybox(join(dirs.dir, 'host-root'));
  hostRoot = host;
  // The inner builds' `FROM busybox` comes from the test registry (the container has no other).
  const push = hostKiln(host, ['push', 'busybox:latest', `${reg}/kiln-image-test/busybox:latest`]);
  assert.equal(push.code, 0, push.err);
  const ctx = join(dirs.dir, 'ctx');
  makeW1(ctx);
  makeW2(ctx);
  w1Files = W1_SMALL_FILES + readdirSync(join(ctx, 'w1', 'assets')).length + 1; // + the Dockerfile
  await writeContext(join(ctx, 'app'), { Dockerfile: APP_DOCKERFILE, 'app.txt': 'hello from app\n' });
});

after(async () => {
  removeDockerImage(image);
  removeDockerImage(app());
  await dirs?.close();
});

test('kiln builds its own image from the repository and loads it into the Docker Engine', (t) => {
  const root = join(dirs.dir, 'build-root');
  const imp = hostKiln(root, ['image', 'import', kilnBaseTarball(), 'kiln-base:bookworm']);
  assert.equal(imp.code, 0, imp.err);
  const r = hostKiln(root, [
    'build',
    '--progress',
    'plain',
    '--build-arg',
    'BASE=kiln-base:bookworm',
    '-t',
    image,
    '--load',
    REPO,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /loading image into docker/);
  t.diagnostic(`kiln's image built and loaded in ${r.seconds.toFixed(1)} s`);
  const config = JSON.parse(docker(['image', 'inspect', image]).out)[0].Config;
  assert.deepEqual(config.Entrypoint, ['kiln']);
  // The image's kiln runs from its start-up bundle, which the build's bundle stage made fresh.
  const v = docker(['run', '--rm', '--network', 'host', image, 'version']);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /Node version:\s+v24\./);
  assert.match(v.out, /runc:\s+Version:\s+1\./);
  const tools = runInContainer(
    image,
    dirs.dir,
    'test -f /opt/kiln/.cache/kiln.cjs && command -v runc slirp4netns newuidmap newgidmap chroot getfattr',
  );
  assert.equal(tools.code, 0, tools.err);
});

test('in a container without privileges it builds W1, W2 and a multi-stage image with a cache mount and pushes it', (t) => {
  const script = `
grep -E '^(CapEff|Seccomp):' /proc/self/status
echo "apparmor: $(cat /proc/self/attr/current 2>/dev/null || echo none)"
kiln pull -q ${reg}/kiln-image-test/busybox:latest >/dev/null
kiln tag ${reg}/kiln-image-test/busybox:latest busybox:latest
for w in w1 w2; do
  t0=$(date +%s.%N); kiln build --progress plain -t $w /ctx/ctx/$w 2>&1; t1=$(date +%s.%N)
  echo "TIME $w $(echo "$t1 $t0" | awk '{print $1 - $2}')"
done
t0=$(date +%s.%N)
export SOURCE_DATE_EPOCH=${EPOCH}
kiln build --progress plain -t ${app()} --push --cache-to type=registry,ref=${cacheRef()},mode=max,cache-mounts=true /ctx/ctx/app 2>&1
t1=$(date +%s.%N); echo "TIME app $(echo "$t1 $t0" | awk '{print $1 - $2}')"
`;
  const r = runInContainer(image, dirs.dir, script);
  const out = r.out + r.err;
  assert.equal(r.code, 0, out);
  // What a default pod gets: Docker's default capabilities (no CAP_SYS_ADMIN), seccomp filtering.
  assert.match(out, new RegExp(`CapEff:\\s+${DOCKER_DEFAULT_CAPEFF}`));
  assert.match(out, /Seccomp:\s+2/);
  assert.match(out, /isolation: chroot \(root without CAP_SYS_ADMIN/);
  // W1's RUN counted every file its COPY brought in.
  assert.match(out, new RegExp(`#\\d+ [\\d.]+ ${w1Files}\\n`));
  const times = Object.fromEntries([...out.matchAll(/^TIME (\w+) ([\d.]+)$/gm)].map((m) => [m[1], m[2]]));
  t.diagnostic(
    `${out.match(/^apparmor: .*$/m)?.[0]}; cold builds in the container: W1 ${times.w1} s, W2 ${times.w2} s, app + push + cache export ${times.app} s`,
  );
  // An independent client reads the pushed image back.
  const pull = docker(['pull', '-q', app()]);
  assert.equal(pull.code, 0, pull.err);
  const cat = docker(['run', '--rm', '--network', 'host', '--entrypoint', 'cat', app(), '/app/result']);
  assert.equal(cat.code, 0, cat.err);
  assert.equal(cat.out, 'hello from app\ndeps built after 1 run(s)\n');
  // The same image, to the digest, as root on the host builds in oci mode (runc, overlay).
  const host = hostKiln(
    hostRoot,
    ['build', '-q', '--isolation', 'oci', '-t', `${app()}-host`, '--push', join(dirs.dir, 'ctx', 'app')],
    [`SOURCE_DATE_EPOCH=${EPOCH}`],
  );
  assert.equal(host.code, 0, host.err);
  assert.equal(manifestDigest(`${app()}-host`), manifestDigest(app()));
});

test('a fresh container builds the multi-stage image from the cache the first one pushed', (t) => {
  const script = `
kiln pull -q ${reg}/kiln-image-test/busybox:latest >/dev/null
kiln tag ${reg}/kiln-image-test/busybox:latest busybox:latest
# As the first build had it: SOURCE_DATE_EPOCH is in COPY's cache key (file times), as in BuildKit.
export SOURCE_DATE_EPOCH=${EPOCH}
kiln build --progress plain -t ${app()}-again --push --cache-from ${cacheRef()} /ctx/ctx/app 2>&1
`;
  const r = runInContainer(image, dirs.dir, script);
  const out = r.out + r.err;
  assert.equal(r.code, 0, out);
  for (const step of ['RUN --mount=type=cache', 'COPY app.txt', 'COPY --from=deps', 'RUN cat'])
    assert.match(
      out,
      new RegExp(`#(\\d+) \\[[^\\]]+\\] ${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\n]*\\n#\\1 CACHED`),
      `${step} was not cached:\n${out}`,
    );
  assert.equal(manifestDigest(`${app()}-again`), manifestDigest(app()));
  t.diagnostic(`warm from the registry cache in ${r.seconds.toFixed(1)} s (docker run included)`);
});

test('in that container oci and rootless modes are refused before any step, naming CAP_SYS_ADMIN', () => {
  const script = `
kiln pull -q ${reg}/kiln-image-test/busybox:latest >/dev/null
kiln tag ${reg}/kiln-image-test/busybox:latest busybox:latest
for mode in oci rootless; do
  if kiln build --isolation $mode /ctx/ctx/app 2>&1; then echo "$mode BUILT"; fi
done
# Why rootless cannot work here: the seccomp profile refuses a user namespace, the kernel a mount.
unshare -U true 2>&1 || true
mkdir /m; mount --bind /tmp /m 2>&1 || true
`;
  const r = runInContainer(image, dirs.dir, script);
  const out = r.out + r.err;
  assert.equal(r.code, 0, out);
  assert.doesNotMatch(out, /BUILT/);
  assert.match(out, /--isolation oci needs root with CAP_SYS_ADMIN/);
  assert.match(out, /--isolation rootless as root needs CAP_SYS_ADMIN .*unshare\(CLONE_NEWUSER\)/);
  assert.doesNotMatch(out, /cannot mount bind/);
  assert.match(out, /unshare failed: Operation not permitted/);
  assert.match(out, /mount: \/m: permission denied/);
});
