/**
 * Multi-stage builds, --target, which stages run, .dockerignore, custom Dockerfile names,
 * whiteouts in layers, and multi-platform builds (arm64 RUN steps through qemu-user-static).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  entry,
  exists,
  layerPaths,
  makeContext,
  openSuite,
  read,
  readImage,
  type Suite,
} from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('stages');
});
after(() => suite.close());

describe('multi-stage builds', () => {
  const dockerfile = `FROM busybox AS base
RUN echo base > /base

FROM base AS child
RUN echo child > /child

FROM busybox AS unused
RUN echo unused-stage-ran && exit 1

FROM busybox AS final
COPY --from=child /base /child /collected/
`;

  it('FROM a previous stage starts from its filesystem; the last stage is the default target', async () => {
    const b = await buildDockerfile(suite, dockerfile);
    assert.equal(read(b.fs, 'collected/base'), 'base\n');
    assert.equal(read(b.fs, 'collected/child'), 'child\n');
    assert.ok(!exists(b.fs, 'base'), 'the final stage does not inherit other stages’ files');
  });

  it('stages the target does not need are never run', async () => {
    const b = await buildDockerfile(suite, dockerfile);
    assert.ok(!b.logs.includes('unused-stage-ran'));
    assert.ok(!b.started.some((n) => n.includes('unused-stage-ran')));
  });

  it('--target builds that stage and stops there', async () => {
    const b = await buildDockerfile(suite, dockerfile, {}, { target: 'child' });
    assert.equal(read(b.fs, 'child'), 'child\n');
    assert.equal(read(b.fs, 'base'), 'base\n');
    assert.ok(!exists(b.fs, 'collected'));
  });

  it('--target of an unknown stage fails naming it', async () => {
    const ctx = await makeContext(suite, { Dockerfile: dockerfile });
    await assert.rejects(buildContext(suite, ctx, { target: 'nope' }), /nope/);
  });

  it('independent stages both run and the final stage sees their output', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS a
RUN echo a > /a
FROM busybox AS b
RUN echo b > /b
FROM scratch
COPY --from=a /a /
COPY --from=b /b /
`,
    );
    assert.equal(read(b.fs, 'a'), 'a\n');
    assert.equal(read(b.fs, 'b'), 'b\n');
    assert.equal(b.image.layers.length, 2);
  });
});

describe('.dockerignore', () => {
  it('ignored files are not in the context; exceptions re-include', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nCOPY . /ctx/\n', {
      '.dockerignore': '*.log\nsecret/\n!important.log\n',
      'keep.txt': 'k',
      'debug.log': 'd',
      'important.log': 'i',
      'secret/key': 'k',
    });
    assert.ok(exists(b.fs, 'ctx/keep.txt'));
    assert.ok(exists(b.fs, 'ctx/important.log'));
    assert.ok(!exists(b.fs, 'ctx/debug.log'));
    assert.ok(!exists(b.fs, 'ctx/secret'));
  });

  it('-f app.Dockerfile uses app.Dockerfile.dockerignore instead of .dockerignore', async () => {
    const ctx = await makeContext(suite, {
      'build/app.Dockerfile': 'FROM busybox\nCOPY . /ctx/\n',
      'build/app.Dockerfile.dockerignore': 'b.txt\nbuild\n',
      '.dockerignore': 'a.txt\n',
      'a.txt': 'a',
      'b.txt': 'b',
    });
    const b = await buildContext(suite, ctx, { dockerfile: join(ctx, 'build/app.Dockerfile') });
    assert.ok(exists(b.fs, 'ctx/a.txt'), 'the generic .dockerignore is not used');
    assert.ok(!exists(b.fs, 'ctx/b.txt'));
    assert.ok(!exists(b.fs, 'ctx/build'));
    assert.ok(exists(b.fs, 'ctx/.dockerignore'));
  });
});

describe('whiteouts', () => {
  it('a RUN deleting a base file yields a whiteout in its layer and the file is gone', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN rm /etc/group\n');
    const last = b.image.layers.at(-1)!;
    const wh = entry(last, 'etc/.wh.group');
    assert.equal(wh.type, 'file');
    assert.equal(wh.size, 0);
    assert.ok(!exists(b.fs, 'etc/group'));
    assert.ok(exists(b.fs, 'etc/passwd'));
  });

  it('rm -rf of a directory and recreating it gives an opaque directory', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nRUN mkdir -p /d/sub && echo old > /d/old && echo s > /d/sub/s\nRUN rm -rf /d && mkdir /d && echo new > /d/new\n',
    );
    const last = b.image.layers.at(-1)!;
    assert.ok(layerPaths(last).includes('d/.wh..wh..opq'), `layer: ${layerPaths(last).join(', ')}`);
    assert.ok(layerPaths(last).includes('d/new'));
    assert.ok(!exists(b.fs, 'd/old'));
    assert.ok(!exists(b.fs, 'd/sub'));
    assert.equal(read(b.fs, 'd/new'), 'new\n');
  });
});

describe('multi-platform', () => {
  it('binfmt for aarch64 is registered on this host', () => {
    assert.match(readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8'), /^enabled/);
  });

  it('--platform linux/amd64,linux/arm64 builds an index with one image per platform, RUN included', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox
ARG TARGETARCH
RUN echo "$TARGETARCH $(uname -m)" > /arch
`,
      {},
      {
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
      },
    );
    assert.equal(b.result.platforms.length, 2);
    const index = JSON.parse((await suite.store.content.readBlob(b.result.root!.digest)).toString('utf8'));
    assert.deepEqual(
      index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
      ['amd64', 'arm64'],
    );
    assert.equal(b.result.imageId, b.result.root?.digest);
    assert.equal(read(b.fs, 'linux_amd64/arch'), 'amd64 x86_64\n');
    assert.equal(read(b.fs, 'linux_arm64/arch'), 'arm64 aarch64\n');
    for (const p of b.result.platforms) {
      const img = await readImage(suite, p.manifest);
      assert.equal(img.config.architecture, p.platform.architecture);
      assert.equal(img.layers.length, 2);
    }
  });

  it('a stage pinned to BUILDPLATFORM runs natively and feeds each target platform', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM --platform=$BUILDPLATFORM busybox AS tools
ARG TARGETARCH
RUN echo "built on $(uname -m) for $TARGETARCH" > /out
FROM busybox
COPY --from=tools /out /out
`,
      {},
      {
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
      },
    );
    assert.equal(read(b.fs, 'linux_amd64/out'), 'built on x86_64 for amd64\n');
    assert.equal(read(b.fs, 'linux_arm64/out'), 'built on x86_64 for arm64\n');
  });
});

describe('layers and reproducibility', () => {
  it('a RUN that changes nothing still records its history entry and layer consistently', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN true\n');
    const h: { empty_layer?: boolean }[] = b.image.config.history;
    assert.equal(h.filter((e) => !e.empty_layer).length, b.image.layers.length);
    assert.equal(b.image.config.rootfs.diff_ids.length, b.image.layers.length);
  });

  it('hard links made by a RUN are hard links in the layer', async () => {
    const b = await buildDockerfile(suite, 'FROM busybox\nRUN echo data > /a && ln /a /b\n');
    const last = b.image.layers.at(-1)!;
    const a = entry(last, 'a');
    const bb = entry(last, 'b');
    const [file, link] = a.type === 'file' ? [a, bb] : [bb, a];
    assert.equal(file.type, 'file');
    assert.equal(link.type, 'hardlink');
    assert.equal(link.linkname, file.path);
  });

  it('with SOURCE_DATE_EPOCH two uncached builds of COPY steps give the same image', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nWORKDIR /app\nCOPY src/ ./src/\nCOPY top.txt .\n',
      'src/a.txt': 'a',
      'top.txt': 't',
    });
    const one = await buildContext(suite, ctx, { noCache: true, sourceDateEpoch: 1700000000, noLocal: true });
    await new Promise((r) => setTimeout(r, 1100));
    const two = await buildContext(suite, ctx, { noCache: true, sourceDateEpoch: 1700000000, noLocal: true });
    assert.equal(two.result.root?.digest, one.result.root?.digest);
  });
});

describe('named build contexts', () => {
  it('--build-context name=dir is usable by COPY --from and RUN --mount from', async () => {
    const extra = await makeContext(suite, { 'lib/version.txt': '1.2.3\n' });
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox
COPY --from=shared lib/version.txt /version
RUN --mount=from=shared,target=/mnt cat /mnt/lib/version.txt > /mounted
`,
    });
    const b = await buildContext(suite, ctx, { buildContexts: { shared: extra } });
    assert.equal(read(b.fs, 'version'), '1.2.3\n');
    assert.equal(read(b.fs, 'mounted'), '1.2.3\n');
  });
});

describe('concurrent builds', () => {
  it('builds running at once in one store all succeed with their own results', async () => {
    const builds = [1, 2, 3].map((i) =>
      buildDockerfile(suite, `FROM busybox\nRUN echo ${i} > /n\nCOPY f /f\nRUN cat /n /f > /all\n`, {
        f: `file ${i}\n`,
      }),
    );
    // allSettled: a failure must not leave the other builds running into the suite's cleanup.
    const settled = await Promise.allSettled(builds);
    const failed = settled.filter((r) => r.status === 'rejected');
    assert.deepEqual(failed, []);
    const results = settled.map((r) => (r as PromiseFulfilledResult<Awaited<(typeof builds)[number]>>).value);
    results.forEach((b, i) => {
      assert.equal(read(b.fs, 'all'), `${i + 1}\nfile ${i + 1}\n`);
    });
    assert.equal(new Set(results.map((b) => b.result.imageId)).size, 3);
  });

  it('the same build started twice at once succeeds twice', async () => {
    const ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo twin > /t\n' });
    const settled = await Promise.allSettled([buildContext(suite, ctx), buildContext(suite, ctx)]);
    assert.deepEqual(
      settled.filter((r) => r.status === 'rejected'),
      [],
    );
    const [a, b] = settled.map(
      (r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof buildContext>>>).value,
    );
    assert.equal(read(a.fs, 't'), 'twin\n');
    assert.equal(read(b.fs, 't'), 'twin\n');
  });
});
