/**
 * `--build-context` from every source buildx accepts, each used by `FROM name`, `COPY --from=name`
 * and `RUN --mount=from=name`: an image in a registry (docker-image://), an OCI layout on disk
 * (oci-layout://, by tag and by digest, resolved for the target platform), a git repository
 * served by `git daemon`, and an http URL (one file named `context`, as BuildKit downloads it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, sharedRegistry, type TestRegistry } from '../../../src/testing/registry.ts';
import { buildContext, buildError, makeContext, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
let reg: TestRegistry;
let layout: string;
let layoutDigest: string;
let server: http.Server;
let serverUrl: string;
let gitd: ChildProcess;
let gitPort: number;
let sentinelDir: string;

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`nothing listened on port ${port}`);
}

function git(cwd: string, ...args: string[]): void {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  suite = await openSuite('ctxsrc');
  reg = await sharedRegistry();
  // The source image, for two platforms: a marker file naming the platform it was made for.
  const src = await makeContext(suite, {
    Dockerfile: 'FROM busybox\nARG TARGETARCH\nCOPY marker-$TARGETARCH /marker\n',
    'marker-amd64': 'image amd64\n',
    'marker-arm64': 'image arm64\n',
  });
  layout = join(suite.dir, 'layout');
  const built = await buildContext(suite, src, {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    tags: [`${reg.host}/kiln-spec/ctx-src:1`],
    // Two tags in the layout, so that an unknown tag finds no single image to fall back to.
    output: [`type=registry`, `type=oci,tar=false,dest=${layout},"name=ctx-src:1,ctx-src:2"`],
    noLocal: true,
    noImage: true,
  });
  assert.ok(built.result.root);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  layoutDigest = index.manifests[0].digest;

  server = http.createServer((req, res) => {
    if (req.url === '/file.txt') res.end('downloaded\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  // A repository with the marker in sub/, and a link that points out of it at a host directory.
  sentinelDir = join(suite.dir, 'host-secret');
  await mkdir(sentinelDir);
  await writeFile(join(sentinelDir, 'marker'), 'host file\n');
  const repos = join(suite.dir, 'repos');
  const work = join(repos, 'repo.git');
  await mkdir(join(work, 'sub'), { recursive: true });
  await writeFile(join(work, 'sub', 'marker'), 'git sub\n');
  await symlink(sentinelDir, join(work, 'escape'));
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '.');
  git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'one');
  gitPort = await freePort();
  gitd = spawn(
    'git',
    [
      'daemon',
      '--reuseaddr',
      '--export-all',
      `--base-path=${repos}`,
      '--listen=127.0.0.1',
      `--port=${gitPort}`,
      repos,
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(gitPort);
});

after(async () => {
  gitd?.kill();
  server?.close();
  await suite.close();
});

/** `ctx` used three ways: the base of a stage, a COPY source and a RUN mount; `path` is the file read. */
async function useEverywhere(ctx: string, path: string, expected: string, platform?: string) {
  const extra = { buildContexts: { src: ctx } };
  const viaFrom = await buildContext(suite, await makeContext(suite, { Dockerfile: 'FROM src\n' }), {
    ...extra,
    ...(platform ? { platforms: [{ os: 'linux', architecture: platform }] } : {}),
  });
  assert.equal(read(viaFrom.fs, path), expected);
  const viaCopy = await buildContext(
    suite,
    await makeContext(suite, {
      Dockerfile: `FROM busybox\nCOPY --from=src ${path} /copied\nRUN --mount=from=src,target=/m cat /m/${path} > /mounted\n`,
    }),
    extra,
  );
  assert.equal(read(viaCopy.fs, 'copied'), expected);
  assert.equal(read(viaCopy.fs, 'mounted'), expected);
}

describe('named contexts from every source', () => {
  it('docker-image:// pulls an image from a registry for FROM, COPY --from and RUN --mount', async () => {
    await useEverywhere(`docker-image://${reg.host}/kiln-spec/ctx-src:1`, 'marker', 'image amd64\n');
  });

  it('oci-layout:// reads the layout by tag, resolved for the target platform', async () => {
    await useEverywhere(`oci-layout://${layout}:1`, 'marker', 'image amd64\n');
    const arm = await buildContext(suite, await makeContext(suite, { Dockerfile: 'FROM src\n' }), {
      buildContexts: { src: `oci-layout://${layout}:1` },
      platforms: [{ os: 'linux', architecture: 'arm64' }],
    });
    assert.equal(read(arm.fs, 'marker'), 'image arm64\n');
  });

  it('oci-layout:// by digest, and never from a registry even with --pull', async () => {
    const b = await buildContext(
      suite,
      await makeContext(suite, { Dockerfile: 'FROM src\nCOPY --from=src /marker /again\n' }),
      {
        buildContexts: { src: `oci-layout://${layout}@${layoutDigest}` },
        pull: true,
      },
    );
    assert.equal(read(b.fs, 'again'), 'image amd64\n');
  });

  it('an oci-layout:// whose blobs do not match their digests fails with a KilnError', async () => {
    const bad = join(suite.dir, 'layout-bad');
    spawnSync('cp', ['-a', layout, bad]);
    // Every blob one byte longer: the store already has the layers (content-addressed, they
    // are never read again), but the index and manifest are read from the layout and checked.
    const blobs = join(bad, 'blobs', 'sha256');
    for (const f of spawnSync('ls', [blobs], { encoding: 'utf8' }).stdout.trim().split('\n')) {
      const p = join(blobs, f);
      await writeFile(p, Buffer.concat([await readFile(p), Buffer.from('x')]));
    }
    const err = await buildError(
      suite,
      'FROM src\n',
      {},
      { buildContexts: { src: `oci-layout://${bad}:1` } },
    );
    assert.ok(err.code, `expected a KilnError, got ${err.stack}`);
  });

  it('an unknown oci-layout:// tag names what the layout has', async () => {
    const err = await buildError(
      suite,
      'FROM src\n',
      {},
      { buildContexts: { src: `oci-layout://${layout}:nope` } },
    );
    assert.equal(err.code, 'IMAGE_NOT_FOUND');
    assert.match(err.message, /no image tagged "nope"/);
  });

  it('a git URL is a checkout of #ref:subdir', async () => {
    await useEverywhere(`git://127.0.0.1:${gitPort}/repo.git#main:sub`, 'marker', 'git sub\n');
  });

  it('a git subdir that is a symlink out of the repository never reads the host', async () => {
    const before = await readFile(join(sentinelDir, 'marker'), 'utf8');
    const err = await buildError(
      suite,
      'FROM src\n',
      {},
      {
        buildContexts: { src: `git://127.0.0.1:${gitPort}/repo.git#main:escape` },
      },
    );
    assert.equal(err.code, 'GIT_SOURCE_FAILED');
    assert.equal(await readFile(join(sentinelDir, 'marker'), 'utf8'), before);
  });

  it("ADD of a git subdir that is a symlink out of the repository never copies the host's files", async () => {
    const err = await buildError(
      suite,
      `FROM busybox\nADD git://127.0.0.1:${gitPort}/repo.git#main:escape /got\n`,
    );
    assert.equal(err.code, 'GIT_SOURCE_FAILED');
    assert.match(err.message, /subdirectory "escape"/);
  });

  it('an http URL is one downloaded file named context, not unpacked', async () => {
    await useEverywhere(`${serverUrl}/file.txt`, 'context', 'downloaded\n');
  });

  it('a local context that does not exist is CONTEXT_NOT_FOUND before anything runs', async () => {
    const err = await buildError(
      suite,
      'FROM src\n',
      {},
      {
        buildContexts: { src: join(suite.dir, 'no-such-dir') },
      },
    );
    assert.equal(err.code, 'CONTEXT_NOT_FOUND');
    assert.match(err.message, /"src"/);
  });
});
