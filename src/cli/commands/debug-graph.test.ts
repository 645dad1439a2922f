import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseGraphJson } from '../../graph/json.ts';
import { parseBuildArgs, parseBuildContexts as parseNamedContexts } from './build-flags.ts';
import { debugGraph, offlineResolver } from './debug-graph.ts';

describe('kiln debug graph', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-debug-graph-'));
    await writeFile(
      join(dir, 'Dockerfile'),
      'FROM alpine AS build\nARG V=1\nCOPY src /src\nRUN make\nFROM scratch\nCOPY --from=build /out /out\n',
    );
    await writeFile(join(dir, '.dockerignore'), '# comment\n\n*.log\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints vertices, edges and the result, offline', async () => {
    const out = await debugGraph(
      { context: dir, buildArgs: { V: '2' }, platform: { os: 'linux', architecture: 'arm64' } },
      offlineResolver,
    );
    assert.equal(out.target, 'stage-1');
    const descs = out.vertices.map((v) => v.description);
    assert.ok(descs.includes('[build 3/3] RUN make'));
    assert.ok(out.edges.length > 0);
    const local = out.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'local');
    assert.ok(local?.op.type === 'source' && local.op.kind === 'local');
    assert.deepEqual(local.op.excludePatterns, ['*.log']);
    const run = out.vertices.find((v) => v.op.type === 'exec');
    assert.ok(run?.op.type === 'exec' && run.op.env.includes('V=2'));
    // What it prints is a graph `kiln build --graph` takes, as it is.
    assert.equal(out.version, 1);
    const def = parseGraphJson(JSON.stringify(out), 'debug-graph.json');
    assert.equal(def.results.default.config.architecture, 'arm64');
    assert.equal(def.results.default.root?.digest, out.results.default.root);
  });

  it('honours --target and -f', async () => {
    await writeFile(join(dir, 'Other.Dockerfile'), 'FROM busybox AS x\nRUN x\nFROM busybox AS y\nRUN y\n');
    const out = await debugGraph(
      { context: dir, file: join(dir, 'Other.Dockerfile'), target: 'x' },
      offlineResolver,
    );
    assert.ok(out.vertices.some((v) => v.description === '[x 2/2] RUN x'));
    assert.ok(!out.vertices.some((v) => v.description?.endsWith('RUN y')));
  });

  it('parses --build-context values', () => {
    assert.deepEqual(parseNamedContexts(['a=docker-image://alpine:3', 'b=/abs/dir']), {
      a: 'docker-image://alpine:3',
      b: '/abs/dir',
    });
    assert.throws(() => parseNamedContexts(['novalue']), /invalid --build-context/);
  });

  it('parses --build-arg values', () => {
    process.env.KILN_TEST_ARG = 'from-env';
    assert.deepEqual(parseBuildArgs(['A=1', 'B=', 'C=x=y', 'KILN_TEST_ARG', 'UNSET_KILN_ARG']), {
      A: '1',
      B: '',
      C: 'x=y',
      KILN_TEST_ARG: 'from-env',
    });
    assert.throws(() => parseBuildArgs(['=x']), /invalid --build-arg/);
  });
});
