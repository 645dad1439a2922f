/**
 * SLSA provenance v0.2 for one platform of a build, shaped as BuildKit writes it
 * (buildType https://mobyproject.org/buildkit@v1): the builder, the Dockerfile as config source
 * (its digest and file name), the base images and other remote sources as materials pinned by
 * digest, and the timestamps. mode=max adds the build args and the build steps (kiln's graph,
 * as BuildKit's `buildConfig.llbDefinition` lists LLB ops).
 */
import { createHash } from 'node:crypto';
import type { Vertex } from '../graph/vertex.ts';

export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const BUILD_TYPE = 'https://mobyproject.org/buildkit@v1';

/** What a build knows of itself, the same for every platform. */
export interface ProvenanceInputs {
  mode: 'min' | 'max';
  builderId: string;
  buildId: string;
  /** ISO times. */
  startedOn: string;
  finishedOn?: string;
  /** The Dockerfile's name in the context (`Dockerfile`) and its bytes. */
  dockerfileName: string;
  dockerfileText: string;
  buildArgs: Readonly<Record<string, string>>;
  target?: string;
  /** Names of the local contexts the build read (`context`, named contexts). */
  locals: readonly string[];
}

export interface Material {
  uri: string;
  digest: Record<string, string>;
}

/** The remote sources the graph under `root` reads: images pinned by digest, git and http. */
export function materials(root: Vertex | null, platform: string): Material[] {
  const out = new Map<string, Material>();
  for (const v of walk(root)) {
    const op = v.op;
    if (op.type !== 'source') continue;
    if (op.kind === 'image') {
      const at = op.ref.indexOf('@');
      const name = at < 0 ? op.ref : op.ref.slice(0, at);
      const digest = at < 0 ? '' : op.ref.slice(at + 1);
      const slash = name.lastIndexOf('/');
      const colon = name.lastIndexOf(':');
      const [repo, tag] = colon > slash ? [name.slice(0, colon), name.slice(colon + 1)] : [name, 'latest'];
      const uri = `pkg:docker/${repo}@${tag}?platform=${encodeURIComponent(platform)}`;
      const [algo, hex] = digest.split(':');
      out.set(uri, { uri, digest: hex ? { [algo]: hex } : {} });
    } else if (op.kind === 'http') {
      const [algo, hex] = (op.checksum ?? '').split(':');
      out.set(op.url, { uri: op.url, digest: hex ? { [algo]: hex } : {} });
    } else if (op.kind === 'git') {
      const uri = op.ref ? `${op.url}#${op.ref}` : op.url;
      out.set(uri, { uri, digest: /^[0-9a-f]{40}$/.test(op.ref) ? { sha1: op.ref } : {} });
    }
  }
  return [...out.values()];
}

/** Every vertex under `root`, inputs before the vertices that use them, each once. */
function walk(root: Vertex | null): Vertex[] {
  const seen = new Set<string>();
  const order: Vertex[] = [];
  const visit = (v: Vertex) => {
    if (seen.has(v.digest)) return;
    seen.add(v.digest);
    for (const i of v.inputs) visit(i);
    order.push(v);
  };
  if (root) visit(root);
  return order;
}

/** The build steps as BuildKit's llbDefinition lists them: `step<N>`, inputs as `step<M>:0`. */
function steps(root: Vertex | null): unknown[] {
  const order = walk(root);
  const ids = new Map(order.map((v, i) => [v.digest, `step${i}`]));
  return order.map((v) => ({
    id: ids.get(v.digest),
    op: v.op,
    ...(v.inputs.length ? { inputs: v.inputs.map((i) => `${ids.get(i.digest)}:0`) } : {}),
  }));
}

/** The provenance predicate of one platform's image. */
export function provenance(
  inp: ProvenanceInputs,
  root: Vertex | null,
  platform: string,
): Record<string, unknown> {
  const max = inp.mode === 'max';
  const args: Record<string, string> = {};
  if (inp.target) args.target = inp.target;
  if (max) for (const [k, v] of Object.entries(inp.buildArgs)) args[`build-arg:${k}`] = v;
  return {
    builder: { id: inp.builderId },
    buildType: BUILD_TYPE,
    materials: materials(root, platform),
    invocation: {
      configSource: {
        digest: { sha256: createHash('sha256').update(inp.dockerfileText).digest('hex') },
        entryPoint: inp.dockerfileName,
      },
      parameters: {
        frontend: 'dockerfile.v0',
        ...(Object.keys(args).length ? { args } : {}),
        locals: inp.locals.map((name) => ({ name })),
      },
      environment: { platform },
    },
    ...(max ? { buildConfig: { llbDefinition: steps(root) } } : {}),
    metadata: {
      buildInvocationID: inp.buildId,
      buildStartedOn: inp.startedOn,
      ...(inp.finishedOn ? { buildFinishedOn: inp.finishedOn } : {}),
      // Build args are all listed only in max mode; kiln's materials list every remote source.
      completeness: { parameters: max, environment: true, materials: true },
      reproducible: false,
    },
  };
}
