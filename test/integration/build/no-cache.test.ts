/**
 * `--no-cache` and `--no-cache-filter` as BuildKit has them: the ignored steps run again and
 * their results are recorded, so the next plain build is warm; and the cache mounts their RUN
 * steps use are emptied first (their old contents discarded, not kept for later builds).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildContext,
  buildDockerfile,
  exists,
  makeContext,
  openSuite,
  read,
  type Suite,
} from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('nocache');
});
after(() => suite.close());

describe('--no-cache records what it runs', () => {
  it('a plain build after a --no-cache build is all cached, runs nothing and gives its result', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile:
        'FROM busybox\nCOPY a.txt /a.txt\nRUN echo record-marker-1 && cat /proc/sys/kernel/random/uuid > /stamp\n',
      'a.txt': 'a',
    });
    const first = await buildContext(suite, ctx, { noCache: true });
    const run = '[3/3] RUN echo record-marker-1 && cat /proc/sys/kernel/random/uuid > /stamp';
    assert.ok(first.started.includes(run), `started: ${first.started}`);
    assert.match(first.logs, /record-marker-1/);

    const again = await buildContext(suite, ctx);
    assert.deepEqual(again.started, [], 'nothing runs');
    for (const step of first.started)
      assert.ok(again.cached.includes(step), `${step} cached: ${again.cached}`);
    assert.doesNotMatch(again.logs, /record-marker-1/);
    assert.equal(
      read(again.fs, 'stamp'),
      read(first.fs, 'stamp'),
      'the --no-cache build is the one recorded',
    );
    assert.equal(again.result.imageId, first.result.imageId);
  });

  it('--no-cache replaces the recorded result: the next plain build gives the new one', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN echo record-marker-2 && cat /proc/sys/kernel/random/uuid > /stamp\n',
    });
    const old = await buildContext(suite, ctx);
    const fresh = await buildContext(suite, ctx, { noCache: true });
    assert.notEqual(read(fresh.fs, 'stamp'), read(old.fs, 'stamp'));
    const again = await buildContext(suite, ctx);
    assert.deepEqual(again.started, []);
    assert.equal(read(again.fs, 'stamp'), read(fresh.fs, 'stamp'));
  });

  it('--no-cache-filter records too: the filtered stage and what depends on it are cached next time', async () => {
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox AS deps
RUN echo filter-deps-3 > /deps
FROM busybox AS app
RUN echo filter-app-3 && cat /proc/sys/kernel/random/uuid > /app
FROM busybox
COPY --from=deps /deps /deps
COPY --from=app /app /app
`,
    });
    const first = await buildContext(suite, ctx, { noCacheFilter: ['app'] });
    assert.ok(
      first.started.includes('[app 2/2] RUN echo filter-app-3 && cat /proc/sys/kernel/random/uuid > /app'),
    );
    const again = await buildContext(suite, ctx);
    assert.deepEqual(again.started, [], 'nothing runs');
    assert.doesNotMatch(again.logs, /filter-app-3/);
    assert.equal(read(again.fs, 'app'), read(first.fs, 'app'));
  });
});

describe('--no-cache and cache mounts', () => {
  /** A RUN that records what its cache mount held, then adds to it. */
  const runWith = (id: string, tag: string) =>
    `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c sh -c 'echo ${tag}; ls -A /c > /seen; echo ${tag} >> /c/runs'\n`;

  it('a --no-cache RUN sees an empty cache mount, and what it writes is the cache from then on', async () => {
    const id = 'nocache-mount-1';
    const seed = await buildDockerfile(suite, runWith(id, 'seed'));
    assert.equal(read(seed.fs, 'seen'), '');
    const warm = await buildDockerfile(suite, runWith(id, 'warm'));
    assert.equal(read(warm.fs, 'seen'), 'runs\n', 'a plain build keeps the cache');

    const ctx = await makeContext(suite, { Dockerfile: runWith(id, 'fresh') });
    const fresh = await buildContext(suite, ctx, { noCache: true });
    assert.equal(read(fresh.fs, 'seen'), '', 'the --no-cache RUN started from an empty directory');

    // The same Dockerfile again without --no-cache: cached, so its RUN does not add to the cache.
    const cached = await buildContext(suite, ctx);
    assert.deepEqual(cached.started, []);

    const after = await buildDockerfile(suite, runWith(id, 'after'));
    assert.equal(read(after.fs, 'seen'), 'runs\n');
    const runs = await buildDockerfile(
      suite,
      `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c cp /c/runs /runs-copy\n`,
    );
    assert.equal(
      read(runs.fs, 'runs-copy'),
      'fresh\nafter\n',
      'the old contents were discarded, the --no-cache run wrote once, the cached build not at all',
    );
  });

  it('--no-cache-filter empties only the cache mounts of the filtered stages', async () => {
    const dockerfile = (tag: string) => `FROM busybox AS one
RUN --mount=type=cache,id=nocache-filter-one,target=/c sh -c 'echo ${tag}; ls -A /c > /seen; touch /c/${tag}'
FROM busybox AS two
RUN --mount=type=cache,id=nocache-filter-two,target=/c sh -c 'echo ${tag}; ls -A /c > /seen; touch /c/${tag}'
FROM busybox
COPY --from=one /seen /one
COPY --from=two /seen /two
`;
    await buildDockerfile(suite, dockerfile('first'));
    const b = await buildDockerfile(suite, dockerfile('second'), {}, { noCacheFilter: ['two'] });
    assert.equal(read(b.fs, 'one'), 'first\n', 'stage one kept its cache');
    assert.equal(read(b.fs, 'two'), '', 'stage two started empty');
  });

  it('discarding a cache mount touches nothing outside the root, whatever its id or contents', async () => {
    const sentinel = join(suite.dir, 'sentinel');
    await mkdir(sentinel, { recursive: true });
    await writeFile(join(sentinel, 'keep'), 'host data\n');
    const before = await readFile(join(sentinel, 'keep'));
    // Ids that would name the sentinel if they were used as paths, and a cache holding a link to it.
    const ids = ['../../sentinel', sentinel, `../../../${sentinel}`];
    const mounts = ids.map((id, i) => `--mount=type=cache,id=${id},target=/c${i}`).join(' ');
    const plant = `FROM busybox\nRUN ${mounts} sh -c 'for d in /c0 /c1 /c2; do ln -s ${sentinel} $d/escape; ln -s ${sentinel}/keep $d/file; echo x > $d/own; done'\n`;
    await buildDockerfile(suite, plant);
    const ctx = await makeContext(suite, {
      Dockerfile: `FROM busybox\nRUN ${mounts} sh -c 'ls -A /c0 /c1 /c2 > /seen'\n`,
    });
    const b = await buildContext(suite, ctx, { noCache: true });
    assert.equal(read(b.fs, 'seen'), '/c0:\n\n/c1:\n\n/c2:\n', 'all three caches were emptied');
    assert.deepEqual(await readFile(join(sentinel, 'keep')), before);
    assert.ok(exists(suite.dir, 'sentinel/keep'));
  });
});
