import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import {
  canonicalJson,
  definition,
  deserializeDefinition,
  diff,
  edges,
  exec,
  file,
  gitSource,
  httpSource,
  imageSource,
  localSource,
  merge,
  serializeDefinition,
  vertex,
  withMeta,
} from './index.ts';

const linux = { os: 'linux', architecture: 'amd64' };
const config: ImageConfig = { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } };

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'q' }], c: null } }),
      '{"a":{"c":null,"d":[1,{"x":"q","z":1}]},"b":1}',
    );
  });
  it('rejects values JSON cannot round-trip', () => {
    assert.throws(
      () => canonicalJson({ a: Number.NaN }),
      (e) => hasCode(e, 'GRAPH_INVALID_VALUE'),
    );
  });
});

describe('vertex digests', () => {
  it('equal work gives equal digests, whatever the metadata', () => {
    const a = imageSource('docker.io/library/alpine:3', linux, { description: 'a' });
    const b = imageSource(
      'docker.io/library/alpine:3',
      { os: 'linux', architecture: 'x86_64' },
      { description: 'b' },
    );
    assert.equal(a.digest, b.digest);
    const ra = exec(a, { args: ['sh', '-c', 'make'], platform: linux }, { description: '[a 1/2] RUN make' });
    const rb = exec(b, { args: ['sh', '-c', 'make'], platform: linux }, { description: '[b 1/2] RUN make' });
    assert.equal(ra.digest, rb.digest);
    assert.equal(withMeta(ra, { description: 'x' }).digest, ra.digest);
  });
  it('any change in the op or an input changes the digest', () => {
    const base = imageSource('alpine', linux);
    const other = imageSource('busybox', linux);
    const run = (b = base, env: string[] = []) => exec(b, { args: ['true'], env, platform: linux }).digest;
    assert.notEqual(run(), run(other));
    assert.notEqual(run(), run(base, ['A=1']));
    assert.notEqual(exec(base, { args: ['true'], platform: linux, network: 'none' }).digest, run());
  });
  it('mount order does not matter; mount content does', () => {
    const base = imageSource('alpine', linux);
    const ctx = localSource('context');
    const m1 = { type: 'cache' as const, target: '/root/.cache', id: 'go' };
    const m2 = { type: 'bind' as const, target: '/src', source: ctx };
    const x = exec(base, { args: ['true'], platform: linux, mounts: [m1, m2] });
    const y = exec(base, { args: ['true'], platform: linux, mounts: [m2, m1] });
    assert.equal(x.digest, y.digest);
    const other = localSource('other');
    const m3 = { type: 'bind' as const, target: '/other', source: other };
    assert.equal(
      exec(base, { args: ['true'], platform: linux, mounts: [m2, m3] }).digest,
      exec(base, { args: ['true'], platform: linux, mounts: [m3, m2] }).digest,
    );
    const z = exec(base, { args: ['true'], platform: linux, mounts: [{ ...m1, sharing: 'locked' }, m2] });
    assert.notEqual(x.digest, z.digest);
  });
  it('ops are frozen and validated against their inputs', () => {
    const v = imageSource('alpine', linux);
    assert.throws(() => {
      (v.op as { ref: string }).ref = 'x';
    });
    assert.throws(
      () => vertex({ type: 'merge', inputs: [0, 1] }, [v]),
      (e) => hasCode(e, 'GRAPH_INVALID_OP'),
    );
    assert.throws(
      () => exec(v, { args: [], platform: linux }),
      (e) => hasCode(e, 'GRAPH_INVALID_OP'),
    );
    assert.throws(
      () => exec(v, { args: ['x'], cwd: 'rel', platform: linux }),
      (e) => hasCode(e, 'GRAPH_INVALID_OP'),
    );
  });
});

describe('definitions', () => {
  function sample() {
    const base = imageSource('alpine', linux, { description: '[internal] load alpine' });
    const ctx = localSource('context', { includePatterns: ['src'], excludePatterns: ['*.tmp'] });
    const wd = file(
      base,
      [{ action: 'mkdir', path: '/app', makeParents: true }],
      {},
      { description: 'WORKDIR /app' },
    );
    const cp = file(wd, [
      { action: 'copy', source: ctx, srcPaths: ['/src'], dest: '/app/', chown: { user: 'app' } },
    ]);
    const run = exec(cp, {
      args: ['/bin/sh', '-c', 'make'],
      cwd: '/app',
      platform: linux,
      mounts: [
        { type: 'secret', target: '/run/secrets/tok', id: 'tok', required: true },
        { type: 'tmpfs', target: '/tmp', size: 1 << 20 },
        { type: 'ssh', target: '/run/ssh' },
      ],
    });
    const h = httpSource('https://example.com/a.tgz', { checksum: 'sha256:' + '0'.repeat(64) });
    const g = gitSource('https://github.com/x/y.git', { ref: 'v1', keepGitDir: true });
    const m = merge([run, h, g]);
    const d = diff(base, m);
    return { base, run, d };
  }
  it('holds each reachable vertex once, inputs first', () => {
    const { base, d } = sample();
    const def = definition({ default: { root: d, config } });
    assert.equal(def.vertices.length, 9);
    const pos = new Map(def.vertices.map((v, i) => [v.digest, i]));
    for (const v of def.vertices)
      for (const i of v.inputs) assert.ok(pos.get(i.digest)! < pos.get(v.digest)!);
    assert.equal(def.vertices[0].digest, base.digest);
    assert.equal(
      edges(def).length,
      def.vertices.reduce((n, v) => n + v.inputs.length, 0),
    );
  });
  it('round-trips through JSON with the same digests and metadata', () => {
    const { d, run } = sample();
    const def = definition({ default: { root: d, config }, build: { root: run, config } });
    const json = JSON.parse(JSON.stringify(serializeDefinition(def)));
    const back = deserializeDefinition(json);
    assert.deepEqual(serializeDefinition(back), serializeDefinition(def));
    assert.equal(back.results.default.root?.digest, d.digest);
    assert.equal(back.vertices[0].meta.description, '[internal] load alpine');
  });
  it('rejects a definition whose ops were edited', () => {
    const { d } = sample();
    const json = serializeDefinition(definition({ default: { root: d, config } }));
    (json.vertices[0].op as { ref: string }).ref = 'evil';
    assert.throws(
      () => deserializeDefinition(json),
      (e) => hasCode(e, 'GRAPH_INVALID_DEFINITION'),
    );
  });
  it('a scratch result has no vertices', () => {
    const def = definition({ default: { root: null, config } });
    assert.equal(def.vertices.length, 0);
    assert.equal(deserializeDefinition(serializeDefinition(def)).results.default.root, null);
  });
  it('handles deep chains without recursion limits', () => {
    let v = imageSource('alpine', linux);
    for (let i = 0; i < 5000; i++) v = file(v, [{ action: 'mkdir', path: `/d${i}` }]);
    assert.equal(definition({ default: { root: v, config } }).vertices.length, 5001);
  });
});
