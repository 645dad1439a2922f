/**
 * `kiln debug graph` prints the graph `kiln build` solves: both plan through `plan()`, so with
 * the same flags (a Dockerfile with its own `<Dockerfile>.dockerignore`, build args, a named
 * context, a RUN-environment flag) the vertex digests the build reports (BuildKit's rawjson)
 * are exactly the graph's.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kiln, makeContext, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('debug-graph');
});
after(() => suite.close());

interface GraphVertex {
  digest: string;
  op: { type: string; kind?: string; name?: string; excludePatterns?: string[] };
}

/** The steps kiln reports that are not vertices of the graph (BuildKit's internal steps, exports). */
const REPORTED_ONLY = /^(\[(.+ )?internal\] load (build definition|\.dockerignore|metadata)|exporting to )/;

describe('kiln debug graph', () => {
  it('prints exactly the graph kiln build solves', async () => {
    const shared = await makeContext(suite, { 'lib/version.txt': `${process.hrtime.bigint()}\n` });
    const ctx = await makeContext(suite, {
      'docker/app.Dockerfile': `FROM busybox
ARG FLAVOR=plain
COPY . /src
COPY --from=shared lib/version.txt /version
RUN echo "$FLAVOR" > /flavor && ls /src > /listing
`,
      // The Dockerfile's own ignore file wins over the context's.
      'docker/app.Dockerfile.dockerignore': 'secret.txt\n',
      '.dockerignore': 'other.txt\n',
      'secret.txt': 'no\n',
      'other.txt': `${process.hrtime.bigint()}\n`,
    });
    const flags = [
      '-f',
      join(ctx, 'docker/app.Dockerfile'),
      '--build-arg',
      'FLAVOR=spicy',
      '--build-context',
      `shared=${shared}`,
      // A RUN-environment flag is part of each RUN's identity: the graph shows it too.
      '--add-host',
      'db:10.0.0.7',
    ];
    const g = kiln(suite, ['debug', 'graph', ...flags, ctx]);
    assert.equal(g.code, 0, g.err);
    const graph = JSON.parse(g.out) as { vertices: GraphVertex[] };
    const main = graph.vertices.find((v) => v.op.kind === 'local' && v.op.name === 'context');
    assert.deepEqual(main?.op.excludePatterns, ['secret.txt']);

    const b = kiln(suite, ['build', '--progress=rawjson', ...flags, ctx]);
    assert.equal(b.code, 0, b.err);
    const solved = new Set<string>();
    for (const line of b.err.trimEnd().split('\n'))
      for (const v of JSON.parse(line).vertexes ?? []) if (!REPORTED_ONLY.test(v.name)) solved.add(v.digest);
    // Local sources other than the main context are read without a step of their own (as in BuildKit).
    const shown = graph.vertices.filter((v) => !(v.op.kind === 'local' && v.op.name !== 'context'));
    assert.deepEqual([...solved].sort(), shown.map((v) => v.digest).sort());
    assert.ok(graph.vertices.some((v) => v.op.kind === 'local' && v.op.name === 'shared'));

    // The comparison can fail: another build arg is another graph.
    const other = kiln(suite, ['debug', 'graph', ...flags, '--build-arg', 'FLAVOR=mild', ctx]);
    assert.equal(other.code, 0, other.err);
    const otherDigests = (JSON.parse(other.out) as { vertices: GraphVertex[] }).vertices.map((v) => v.digest);
    assert.ok(otherDigests.some((d) => !solved.has(d)));
  });
});
