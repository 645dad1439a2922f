/**
 * The instruction cache, judged by the solver's vertex events (which steps started, which were
 * cache hits) and by image IDs: rebuilds, context edits, --no-cache and build-arg changes.
 */
import assert from 'node:assert/strict';
import { chmod, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Built,
  buildContext,
  buildDockerfile,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
  stat,
} from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('cache');
});
after(() => suite.close());

const DOCKERFILE = `FROM busybox
COPY a.txt /a.txt
RUN cat /a.txt > /a-copy
COPY b.txt /b.txt
RUN cat /b.txt > /b-copy
`;
const steps = {
  copyA: '[2/5] COPY a.txt /a.txt',
  runA: '[3/5] RUN cat /a.txt > /a-copy',
  copyB: '[4/5] COPY b.txt /b.txt',
  runB: '[5/5] RUN cat /b.txt > /b-copy',
};

describe('instruction cache', () => {
  let ctx: string;
  let first: Built;
  before(async () => {
    ctx = await makeContext(suite, {
      Dockerfile: DOCKERFILE,
      'a.txt': 'a1',
      'b.txt': 'b1',
      'unrelated.txt': 'u1',
    });
    first = await buildContext(suite, ctx);
  });

  it('a first build runs every step', () => {
    for (const s of Object.values(steps)) assert.ok(first.started.includes(s), `${s} ran: ${first.started}`);
  });

  it('an identical second build runs nothing and gives the same image ID', async () => {
    const again = await buildContext(suite, ctx);
    assert.deepEqual(again.started, []);
    assert.ok(again.cached.length > 0);
    assert.equal(again.result.imageId, first.result.imageId);
    assert.equal(again.result.root?.digest, first.result.root?.digest);
  });

  it('editing a context file no step copies keeps everything cached', async () => {
    await writeFile(join(ctx, 'unrelated.txt'), 'u2');
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started, []);
    assert.equal(b.result.imageId, first.result.imageId);
  });

  it('editing the copied file reruns that COPY and what follows it, nothing before', async () => {
    await writeFile(join(ctx, 'b.txt'), 'b2');
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started.sort(), [steps.copyB, steps.runB].sort());
    assert.ok(b.cached.includes(steps.runA), `cached: ${b.cached}`);
    assert.notEqual(b.result.imageId, first.result.imageId);
    assert.equal(read(b.fs, 'b-copy'), 'b2');
    assert.equal(read(b.fs, 'a-copy'), 'a1');
  });

  it('editing an early file reruns every step from its COPY on', async () => {
    await writeFile(join(ctx, 'a.txt'), 'a2');
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started.sort(), Object.values(steps).sort());
    assert.equal(read(b.fs, 'a-copy'), 'a2');
  });

  it('--no-cache runs every step even when all are cached', async () => {
    const warm = await buildContext(suite, ctx);
    assert.deepEqual(warm.started, []);
    const b = await buildContext(suite, ctx, { noCache: true });
    for (const s of Object.values(steps)) assert.ok(b.started.includes(s), `${s} ran: ${b.started}`);
    assert.deepEqual(
      b.cached.filter((c) => !c.includes('FROM')),
      [],
    );
  });

  it('a touched file with unchanged content stays cached', async () => {
    const { utimes } = await import('node:fs/promises');
    await utimes(join(ctx, 'a.txt'), new Date(), new Date(Date.now() + 5000));
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started, []);
  });
});

describe('build args and the cache', () => {
  const dockerfile = `FROM busybox
ARG UNUSED
RUN echo prepare > /prep
ARG VERSION=1
RUN echo "v$VERSION" > /version
`;
  let ctx: string;
  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: dockerfile });
    await buildContext(suite, ctx, { buildArgs: { VERSION: '1' } });
  });

  it('changing a build arg a RUN uses reruns that RUN only', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { VERSION: '2' } });
    // the step name shows the expanded command, as BuildKit's does
    assert.deepEqual(b.started, ['[3/3] RUN echo "v2" > /version']);
    assert.equal(read(b.fs, 'version'), 'v2\n');
  });

  it('the same build arg value again is a cache hit', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { VERSION: '2' } });
    assert.deepEqual(b.started, []);
  });

  it('a build arg that is declared but not used before a RUN still keys the RUNs after it, like BuildKit', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { VERSION: '2', UNUSED: 'x' } });
    // BuildKit adds every declared ARG in scope to a RUN's environment, so both RUNs rerun.
    assert.equal(b.started.length, 2);
  });

  it('a build arg that no stage declares changes nothing', async () => {
    const b = await buildContext(suite, ctx, { buildArgs: { VERSION: '2', NOT_DECLARED: 'x' } });
    assert.deepEqual(b.started, []);
  });
});

describe('cache across stages and links', () => {
  it('--no-cache-filter reruns only the named stage and what depends on it', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox AS deps
RUN echo deps > /deps
FROM busybox AS app
RUN echo app > /app
FROM busybox
COPY --from=deps /deps /deps
COPY --from=app /app /app
`,
    });
    await buildContext(suite, ctx);
    const b = await buildContext(suite, ctx, { noCacheFilter: ['app'] });
    assert.ok(b.started.includes('[app 2/2] RUN echo app > /app'), `started: ${b.started}`);
    assert.ok(!b.started.includes('[deps 2/2] RUN echo deps > /deps'), `started: ${b.started}`);
  });

  it('COPY --link keeps its layer when the steps before it change (no rebase)', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nARG V=1\nRUN echo $V > /v\nCOPY --link big.txt /big.txt\n',
      'big.txt': 'linked\n',
    });
    const first = await buildContext(suite, ctx);
    const b = await buildContext(suite, ctx, { buildArgs: { V: '2' } });
    assert.ok(b.started.includes('[2/3] RUN echo 2 > /v'), `started: ${b.started}`);
    const [l1, l2] = [first.image.manifest.layers, b.image.manifest.layers];
    assert.notEqual(l2[1].digest, l1[1].digest, 'the RUN layer changed');
    assert.equal(l2[2].digest, l1[2].digest, 'the linked layer is the same blob');
    assert.equal(read(b.fs, 'v'), '2\n');
    assert.equal(read(b.fs, 'big.txt'), 'linked\n');
  });

  it('the same step in two stages of one build runs once', async () => {
    const b = await buildDockerfile(
      suite,
      `FROM busybox AS one
RUN echo shared-step-kiln-spec > /s
FROM busybox AS two
RUN echo shared-step-kiln-spec > /s
FROM scratch
COPY --from=one /s /one
COPY --from=two /s /two
`,
    );
    assert.equal(
      b.started.filter((s) => s.includes('shared-step-kiln-spec')).length,
      1,
      `started: ${b.started}`,
    );
    assert.equal(read(b.fs, 'one'), read(b.fs, 'two'));
  });
});

describe('what invalidates a COPY', () => {
  const dockerfile = 'FROM busybox\nCOPY dir /dir\nRUN ls -l /dir > /listing\n';
  let ctx: string;
  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: dockerfile, 'dir/a.sh': 'echo a\n', 'dir/b': 'b' });
    await symlink('a.sh', join(ctx, 'dir/link'));
    await buildContext(suite, ctx);
  });

  const copyStep = '[2/3] COPY dir /dir';

  it('a mode change with the same content', async () => {
    await chmod(join(ctx, 'dir/a.sh'), 0o755);
    const b = await buildContext(suite, ctx);
    assert.ok(b.started.includes(copyStep), `started: ${b.started}`);
    assert.equal(stat(b.fs, 'dir/a.sh').mode, 0o755);
  });

  it('a new file in the copied directory', async () => {
    await writeFile(join(ctx, 'dir/new'), 'n');
    const b = await buildContext(suite, ctx);
    assert.ok(b.started.includes(copyStep), `started: ${b.started}`);
    assert.equal(read(b.fs, 'dir/new'), 'n');
  });

  it('a changed symlink target', async () => {
    await unlink(join(ctx, 'dir/link'));
    await symlink('b', join(ctx, 'dir/link'));
    const b = await buildContext(suite, ctx);
    assert.ok(b.started.includes(copyStep), `started: ${b.started}`);
    assert.equal(stat(b.fs, 'dir/link').target, 'b');
  });

  it('a .dockerignore that now excludes a copied file', async () => {
    await writeFile(join(ctx, '.dockerignore'), 'dir/b\n');
    const b = await buildContext(suite, ctx);
    assert.ok(b.started.includes(copyStep), `started: ${b.started}`);
    assert.ok(!exists(b.fs, 'dir/b'));
  });

  it('but not a comment added to the Dockerfile', async () => {
    await writeFile(join(ctx, 'Dockerfile'), `# a comment\n${dockerfile}`);
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started, []);
  });
});

describe('what invalidates other steps', () => {
  it('a base image retagged to different content reruns everything after FROM', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM kiln-spec/moving-base\nRUN cat /etc/hostname-ish 2>/dev/null; uname -m > /arch\n',
    });
    const { normalizeReference } = await import('../../../src/reference/reference.ts');
    const bb = await suite.store.images.get(normalizeReference('kiln-test/busybox:amd64'));
    assert.ok(bb);
    await suite.store.images.put(normalizeReference('kiln-spec/moving-base'), bb.target);
    const first = await buildContext(suite, ctx);
    const base2 = await buildDockerfile(
      suite,
      'FROM busybox\nRUN echo changed > /changed\n',
      {},
      { noLocal: true },
    );
    assert.ok(base2.result.root);
    await suite.store.images.put(normalizeReference('kiln-spec/moving-base'), base2.result.root);
    const second = await buildContext(suite, ctx);
    assert.ok(
      second.started.some((s) => s.includes('RUN')),
      `started: ${second.started}`,
    );
    assert.equal(read(second.fs, 'changed'), 'changed\n');
    assert.notEqual(second.result.imageId, first.result.imageId);
  });

  it('ADD of a URL whose content changed downloads the new content', async () => {
    let body = 'version one\n';
    const srv = http.createServer((_q, r) => r.end(body));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const ctx = await makeContext(suite, {
        Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/f.txt /f.txt\n`,
      });
      const first = await buildContext(suite, ctx);
      assert.equal(read(first.fs, 'f.txt'), 'version one\n');
      const same = await buildContext(suite, ctx);
      assert.equal(same.result.imageId, first.result.imageId, 'unchanged content: same image');
      body = 'version two\n';
      const changed = await buildContext(suite, ctx);
      assert.equal(read(changed.fs, 'f.txt'), 'version two\n');
    } finally {
      srv.close();
    }
  });

  it('changing an ENV reruns the RUNs after it', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN echo before > /before\nENV MODE=a\nRUN echo $MODE > /mode\n',
    });
    await buildContext(suite, ctx);
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN echo before > /before\nENV MODE=b\nRUN echo $MODE > /mode\n',
    );
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started, ['[3/3] RUN echo b > /mode']);
    assert.equal(read(b.fs, 'mode'), 'b\n');
  });
});

describe('a rebuild that changes nothing', () => {
  const changes = () => Number(suite.store.meta.db.prepare('SELECT total_changes() AS n').get()!.n);
  let ctx: string;
  let first: Built;
  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo hi > /hi\n' });
    first = await buildContext(suite, ctx, { tags: ['kiln.test/same:1'], noLocal: true });
  });

  it('writes nothing to the store when its names already point at the image', async () => {
    const before = changes();
    const again = await buildContext(suite, ctx, { tags: ['kiln.test/same:1'], noLocal: true });
    assert.equal(again.result.imageId, first.result.imageId);
    assert.equal(changes(), before, 'no lease, blob claim or tag write');
    const rec = await suite.store.images.get('kiln.test/same:1');
    assert.equal(rec?.target.digest, first.result.root?.digest);
  });

  it('still writes a name that does not point at the image yet', async () => {
    const before = changes();
    await buildContext(suite, ctx, { tags: ['kiln.test/same:1', 'kiln.test/same:2'], noLocal: true });
    assert.ok(changes() > before);
    assert.equal(
      (await suite.store.images.get('kiln.test/same:2'))?.target.digest,
      first.result.root?.digest,
    );
  });

  it('restores a blob of the image that went missing', async () => {
    const config = first.result.platforms[0].configDigest as Parameters<
      typeof suite.store.content.blobPath
    >[0];
    await rm(suite.store.content.blobPath(config));
    await buildContext(suite, ctx, { tags: ['kiln.test/same:1'], noLocal: true });
    assert.ok(await suite.store.content.info(config), 'the config blob is back');
  });
});
