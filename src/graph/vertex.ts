/**
 * Vertices: an op plus the vertices it reads. A vertex's digest is the sha256 of the canonical
 * JSON of `{op, inputs: [input digests]}`, so equal work has equal digests wherever it appears.
 * Metadata (a human description, the build-file location) travels with the vertex but is not
 * part of the digest.
 */
import { type Digest, sha256 } from '../digest/digest.ts';
import { KilnError, type SourceLocation } from '../errors/errors.ts';
import { canonicalJson, cleanJson, deepFreeze } from './canonical.ts';
import type { FileAction, Mount, Op } from './ops.ts';

/** Not part of the digest: for progress output and error messages only. */
export interface VertexMeta {
  /** e.g. `[stage-1 3/5] RUN make`. */
  description?: string;
  location?: SourceLocation;
  /** Run even when a cached result exists (`--no-cache`). */
  ignoreCache?: boolean;
  /**
   * Proxy variables for an exec (`http_proxy`, ... from build args). Like BuildKit, kiln keeps
   * them out of the digest: a proxy changes how a download travels, not what the step produces.
   */
  proxyEnv?: Record<string, string>;
}

export interface Vertex {
  readonly digest: Digest;
  readonly op: Op;
  readonly inputs: readonly Vertex[];
  readonly meta: Readonly<VertexMeta>;
}

/** The bytes a vertex digest is computed over. */
export function vertexDigest(op: Op, inputDigests: readonly Digest[]): Digest {
  return sha256(canonicalJson({ op, inputs: inputDigests }));
}

/** Make a vertex (op and inputs are frozen; the op is validated against the inputs). */
export function vertex(op: Op, inputs: readonly Vertex[] = [], meta: VertexMeta = {}): Vertex {
  validateOp(op, inputs.length);
  const frozenOp = deepFreeze(cleanJson(op));
  const v: Vertex = {
    digest: vertexDigest(
      frozenOp,
      inputs.map((i) => i.digest),
    ),
    op: frozenOp,
    inputs: Object.freeze([...inputs]),
    meta: Object.freeze({ ...meta }),
  };
  return Object.freeze(v);
}

/** The same vertex (same digest) with other metadata. */
export function withMeta(v: Vertex, meta: VertexMeta): Vertex {
  return Object.freeze({ ...v, meta: Object.freeze({ ...v.meta, ...meta }) });
}

function invalid(message: string): KilnError {
  return new KilnError('GRAPH_INVALID_OP', message, {
    hint: 'this is a bug in the frontend that built the graph',
  });
}

function checkIndex(what: string, index: number | null, count: number): void {
  if (index === null) return;
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw invalid(`${what} refers to input ${index}, but the vertex has ${count} input(s)`);
  }
}

function checkAbsolute(what: string, path: string): void {
  if (!path.startsWith('/')) throw invalid(`${what} must be an absolute path, got "${path}"`);
}

function validateMount(m: Mount, count: number): void {
  // A secret exposed only as an environment variable has no mount point.
  if (!(m.type === 'secret' && m.target === '' && m.env)) checkAbsolute(`${m.type} mount target`, m.target);
  if (m.type === 'bind' || m.type === 'cache') checkIndex(`${m.type} mount ${m.target}`, m.input, count);
  if (m.type === 'cache' && m.id === '') throw invalid(`cache mount ${m.target} has an empty id`);
}

function validateAction(a: FileAction, count: number): void {
  if (a.action === 'copy') {
    checkIndex('copy source', a.src, count);
    if (a.srcPaths.length === 0) throw invalid('copy action without source paths');
  }
}

export function validateOp(op: Op, count: number): void {
  switch (op.type) {
    case 'source':
      if (count !== 0) throw invalid(`a source op takes no inputs, got ${count}`);
      return;
    case 'exec':
      checkIndex('exec rootfs', op.rootfs, count);
      if (op.args.length === 0) throw invalid('exec op without arguments');
      checkAbsolute('exec cwd', op.cwd);
      for (const m of op.mounts) validateMount(m, count);
      return;
    case 'file':
      checkIndex('file op base', op.base, count);
      if (op.actions.length === 0) throw invalid('file op without actions');
      for (const a of op.actions) validateAction(a, count);
      return;
    case 'merge':
      if (op.inputs.length < 2) throw invalid('a merge op needs at least two inputs');
      for (const i of op.inputs) checkIndex('merge input', i, count);
      return;
    case 'diff':
      checkIndex('diff lower', op.lower, count);
      checkIndex('diff upper', op.upper, count);
      return;
    default:
      throw invalid(`unknown op type "${(op as { type: unknown }).type}"`);
  }
}

/** Every vertex reachable from `roots`, each once (depth first, inputs after their reader). */
export function* reachable(roots: readonly Vertex[]): Generator<Vertex> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const v = stack.pop() as Vertex;
    if (seen.has(v.digest)) continue;
    seen.add(v.digest);
    stack.push(...v.inputs);
    yield v;
  }
}
