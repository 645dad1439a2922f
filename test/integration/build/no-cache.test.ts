/**
 * `--no-cache` and `--no-cache-filter` as BuildKit has them: the ignored steps run again and
 * their results are recorded, so the next plain build is warm.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildContext, makeContext, openSuite, read, type Suite } from './helpers.ts';

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
