/**
 * A Definition is a build graph ready to hand over: every vertex reachable from the results, in
 * dependency order (inputs first), plus the image config that travels with each result. It
 * serializes to JSON and back; loading recomputes every digest, so a tampered or stale file is
 * rejected rather than trusted.
 */
import type { Digest } from '../digest/digest.ts';
import { KilnError, type SourceLocation } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import { deepFreeze } from './canonical.ts';
import type { Op } from './ops.ts';
import { type Vertex, type VertexMeta, vertex } from './vertex.ts';

/** One build result: the root filesystem (null = empty, `FROM scratch`) and its image config. */
export interface Result {
  readonly root: Vertex | null;
  readonly config: ImageConfig;
}

export interface Definition {
  /** Vertices in dependency order: every vertex comes after all of its inputs. */
  readonly vertices: readonly Vertex[];
  readonly byDigest: ReadonlyMap<Digest, Vertex>;
  /** Named results; a Dockerfile build has one named `default`. */
  readonly results: Readonly<Record<string, Result>>;
}

/** Collect what the results reach. The first vertex seen with a digest keeps its metadata. */
export function definition(results: Record<string, Result>): Definition {
  const byDigest = new Map<Digest, Vertex>();
  const order: Vertex[] = [];
  const visit = (v: Vertex): void => {
    if (byDigest.has(v.digest)) return;
    // Iterative post-order: deep chains (hundreds of steps) must not blow the stack.
    const stack: { v: Vertex; next: number }[] = [{ v, next: 0 }];
    const onStack = new Set<Digest>([v.digest]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.v.inputs.length) {
        const child = top.v.inputs[top.next++];
        if (!byDigest.has(child.digest) && !onStack.has(child.digest)) {
          onStack.add(child.digest);
          stack.push({ v: child, next: 0 });
        }
        continue;
      }
      stack.pop();
      if (!byDigest.has(top.v.digest)) {
        byDigest.set(top.v.digest, top.v);
        order.push(top.v);
      }
    }
  };
  const frozen: Record<string, Result> = {};
  for (const name of Object.keys(results).sort()) {
    const r = results[name];
    if (r.root) visit(r.root);
    frozen[name] = Object.freeze({
      root: r.root ? byDigest.get(r.root.digest)! : null,
      config: deepFreeze(structuredClone(r.config)),
    });
  }
  return Object.freeze({ vertices: Object.freeze(order), byDigest, results: Object.freeze(frozen) });
}

/** The JSON form of a vertex. */
export interface SerializedVertex {
  digest: Digest;
  op: Op;
  inputs: Digest[];
  description?: string;
  location?: SourceLocation;
  ignoreCache?: boolean;
  proxyEnv?: Record<string, string>;
}

export interface SerializedDefinition {
  version: 1;
  vertices: SerializedVertex[];
  results: Record<string, { root: Digest | null; config: ImageConfig }>;
}

export function serializeDefinition(def: Definition): SerializedDefinition {
  const results: SerializedDefinition['results'] = {};
  for (const [name, r] of Object.entries(def.results)) {
    results[name] = { root: r.root?.digest ?? null, config: structuredClone(r.config) as ImageConfig };
  }
  return {
    version: 1,
    vertices: def.vertices.map((v) => ({
      digest: v.digest,
      op: structuredClone(v.op) as Op,
      inputs: v.inputs.map((i) => i.digest),
      ...structuredClone(v.meta as VertexMeta),
    })),
    results,
  };
}

function corrupt(message: string): KilnError {
  return new KilnError('GRAPH_INVALID_DEFINITION', message, {
    hint: 'the graph file was edited or written by an incompatible kiln; regenerate it',
  });
}

/** Rebuild a Definition from its JSON form, verifying every digest. */
export function deserializeDefinition(data: unknown): Definition {
  const d = data as SerializedDefinition;
  if (typeof d !== 'object' || d === null || d.version !== 1 || !Array.isArray(d.vertices)) {
    throw corrupt('not a version 1 kiln graph definition');
  }
  const built = new Map<Digest, Vertex>();
  for (const sv of d.vertices) {
    const inputs = (sv.inputs ?? []).map((dg) => {
      const v = built.get(dg);
      if (!v) throw corrupt(`vertex ${sv.digest} refers to ${dg}, which is not defined before it`);
      return v;
    });
    const meta: VertexMeta = {};
    if (sv.description !== undefined) meta.description = sv.description;
    if (sv.location !== undefined) meta.location = sv.location;
    if (sv.ignoreCache !== undefined) meta.ignoreCache = sv.ignoreCache;
    if (sv.proxyEnv !== undefined) meta.proxyEnv = sv.proxyEnv;
    const v = vertex(sv.op, inputs, meta);
    if (v.digest !== sv.digest) throw corrupt(`vertex ${sv.digest} has content digest ${v.digest}`);
    built.set(v.digest, v);
  }
  const results: Record<string, Result> = {};
  for (const [name, r] of Object.entries(d.results ?? {})) {
    const root = r.root === null ? null : built.get(r.root);
    if (root === undefined) throw corrupt(`result "${name}" refers to undefined vertex ${r.root}`);
    results[name] = { root, config: r.config };
  }
  return definition(results);
}

/** Edges of the graph as `{from: input, to: user}` digest pairs, in vertex order. */
export function edges(def: Definition): { from: Digest; to: Digest }[] {
  const out: { from: Digest; to: Digest }[] = [];
  for (const v of def.vertices) for (const i of v.inputs) out.push({ from: i.digest, to: v.digest });
  return out;
}

/** What `kiln debug graph` prints: vertices with digests, descriptions, ops and inputs; edges; results. */
export function debugView(def: Definition): {
  vertices: SerializedVertex[];
  edges: { from: Digest; to: Digest }[];
  results: SerializedDefinition['results'];
} {
  const s = serializeDefinition(def);
  return { vertices: s.vertices, edges: edges(def), results: s.results };
}
