/**
 * A graph definition read from JSON (`kiln build --graph FILE`, what `kiln debug graph`
 * prints): untrusted input. It is checked against a strict schema (every op, mount, action and
 * the image config), bounded in size and fan-out, ordered by its references with cycles
 * refused, checked for paths that climb out of their root, and rebuilt vertex by vertex with
 * every digest recomputed, so the graph solved is exactly what the file says and nothing else.
 */
import type { Digest } from '../digest/digest.ts';
import { type ErrorCode, KilnError } from '../errors/errors.ts';
import type { ImageConfig } from '../oci/config.ts';
import { parseReference } from '../reference/reference.ts';
import { type Definition, definition, type Result, type SerializedVertex } from './definition.ts';
import type { Op } from './ops.ts';
import {
  arr,
  bool,
  check,
  int,
  json,
  nullable,
  obj,
  oneOf,
  record,
  type Schema,
  SchemaError,
  str,
  tagged,
} from './schema.ts';
import { type Vertex, type VertexMeta, vertex } from './vertex.ts';

/** What a graph file may hold at most. */
export const GRAPH_LIMITS = {
  bytes: 64 << 20,
  vertices: 100_000,
  /** Inputs of one vertex (a merge of many COPY --link layers is the widest a Dockerfile makes). */
  inputs: 4096,
  /** Edges in all: bounds the work of ordering and solving however the inputs are spread. */
  edges: 1_000_000,
  /** Vertices reading one vertex. */
  fanOut: 10_000,
  results: 256,
  /** Items of any one list in an op (args, env, mounts, actions, patterns). */
  list: 65_536,
} as const;

const digest: Schema = str(71, { pattern: /^sha256:[0-9a-f]{64}$/, what: 'a sha256 digest' });
const checksum: Schema = str(135, {
  pattern: /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/,
  what: 'a sha256 or sha512 digest',
});
const uint32 = int(0, 0xffff_ffff);
const mode = int(0, 0o7777);
const input = nullable(int(0, GRAPH_LIMITS.inputs - 1));
const strings = arr(str(), GRAPH_LIMITS.list);
const platform = obj(
  {
    architecture: str(64),
    os: str(64),
    variant: str(64),
    'os.version': str(256),
    'os.features': arr(str(256), 64),
  },
  ['variant', 'os.version', 'os.features'],
);
const chown = obj({ user: str(4096), group: str(4096) }, ['group']);

const source = tagged('kind', {
  image: obj({ type: oneOf('source'), kind: oneOf('image'), ref: str(4096), platform }),
  local: obj({
    type: oneOf('source'),
    kind: oneOf('local'),
    name: str(256, { pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/, what: 'a context name' }),
    includePatterns: strings,
    excludePatterns: strings,
    followPaths: strings,
  }),
  http: obj(
    {
      type: oneOf('source'),
      kind: oneOf('http'),
      url: str(8192, { pattern: /^https?:\/\//, what: 'an http(s) URL' }),
      checksum,
      filename: str(255, { pattern: /^(?!\.\.?$)[^/]+$/, what: 'a file name' }),
    },
    ['checksum', 'filename'],
  ),
  git: obj({
    type: oneOf('source'),
    kind: oneOf('git'),
    url: str(8192),
    ref: str(1024),
    subdir: str(4096),
    keepGitDir: bool,
  }),
});

const idOwnerMode = { uid: uint32, gid: uint32, mode };
const mount = tagged('type', {
  bind: obj({ type: oneOf('bind'), target: str(4096), input, selector: str(4096), readonly: bool }),
  cache: obj({
    type: oneOf('cache'),
    target: str(4096),
    id: str(4096),
    sharing: oneOf('shared', 'locked', 'private'),
    input,
    selector: str(4096),
    readonly: bool,
    ...idOwnerMode,
  }),
  tmpfs: obj({ type: oneOf('tmpfs'), target: str(4096), size: int(0, Number.MAX_SAFE_INTEGER) }),
  secret: obj(
    {
      type: oneOf('secret'),
      target: str(4096),
      id: str(4096),
      env: str(4096),
      required: bool,
      ...idOwnerMode,
    },
    ['env'],
  ),
  ssh: obj({ type: oneOf('ssh'), target: str(4096), id: str(4096), required: bool, ...idOwnerMode }),
});

const exec = obj(
  {
    type: oneOf('exec'),
    rootfs: input,
    args: arr(str(), GRAPH_LIMITS.list, 1),
    env: strings,
    cwd: str(4096),
    user: str(4096),
    mounts: arr(mount, 1024),
    network: oneOf('default', 'none', 'host'),
    security: oneOf('sandbox', 'insecure'),
    platform,
    hostname: str(255),
    extraHosts: arr(obj({ host: str(255), ip: str(64) }), 1024),
    ulimits: arr(
      obj({ name: str(32), soft: int(-1, Number.MAX_SAFE_INTEGER), hard: int(-1, Number.MAX_SAFE_INTEGER) }),
      64,
    ),
    cgroupParent: str(4096),
  },
  ['extraHosts', 'ulimits', 'cgroupParent'],
);

const time = int(0, 253402300799);
const action = tagged('action', {
  copy: obj(
    {
      action: oneOf('copy'),
      src: input,
      srcPaths: arr(str(4096), GRAPH_LIMITS.list, 1),
      dest: str(4096),
      chown,
      chmod: str(64),
      followSymlinks: bool,
      dirContentsOnly: bool,
      allowWildcard: bool,
      allowEmptyWildcard: bool,
      createDestPath: bool,
      includePatterns: strings,
      excludePatterns: strings,
      parents: bool,
      unpack: bool,
      link: bool,
      createdTime: time,
    },
    ['chown', 'chmod', 'createdTime'],
  ),
  mkfile: obj({ action: oneOf('mkfile'), path: str(4096), data: str(16 << 20, { nul: true }), mode, chown }, [
    'chown',
  ]),
  mkdir: obj({ action: oneOf('mkdir'), path: str(4096), mode, makeParents: bool, chown, createdTime: time }, [
    'chown',
    'createdTime',
  ]),
  rm: obj({ action: oneOf('rm'), path: str(4096), allowNotFound: bool, allowWildcard: bool }),
  symlink: obj({ action: oneOf('symlink'), oldpath: str(4096), newpath: str(4096), chown }, ['chown']),
});

const op = tagged('type', {
  source,
  exec,
  file: obj(
    {
      type: oneOf('file'),
      base: input,
      cwd: str(4096),
      actions: arr(action, GRAPH_LIMITS.list, 1),
      platform,
    },
    ['platform'],
  ),
  merge: obj({ type: oneOf('merge'), inputs: arr(int(0, GRAPH_LIMITS.inputs - 1), GRAPH_LIMITS.inputs, 2) }),
  diff: obj({ type: oneOf('diff'), lower: input, upper: input }),
});

const location = obj({ file: str(4096), startLine: uint32, endLine: uint32, column: uint32 }, ['column']);
const vertexSchema = obj(
  {
    digest,
    op,
    inputs: arr(digest, GRAPH_LIMITS.inputs),
    description: str(64 << 10),
    location,
    ignoreCache: bool,
    proxyEnv: record(str(8192), 64),
  },
  ['description', 'location', 'ignoreCache', 'proxyEnv'],
);

const ports = record(obj({}), 4096);
const history = obj(
  { created: str(64), created_by: str(), author: str(4096), comment: str(64 << 10), empty_layer: bool },
  ['created', 'created_by', 'author', 'comment', 'empty_layer'],
);
const stringList = arr(str(), GRAPH_LIMITS.list);
const containerConfig = obj(
  {
    User: str(4096),
    ExposedPorts: ports,
    Env: stringList,
    Entrypoint: nullable(stringList),
    Cmd: nullable(stringList),
    Volumes: ports,
    WorkingDir: str(4096),
    Labels: record(str(), 10_000),
    StopSignal: str(64),
    ArgsEscaped: bool,
    Healthcheck: json(4, 1024),
    OnBuild: nullable(stringList),
    Shell: stringList,
  },
  [
    'User',
    'ExposedPorts',
    'Env',
    'Entrypoint',
    'Cmd',
    'Volumes',
    'WorkingDir',
    'Labels',
    'StopSignal',
    'ArgsEscaped',
    'Healthcheck',
    'OnBuild',
    'Shell',
  ],
  // Base images carry members docker once wrote (Hostname, Image, …): kept as they are.
  json(8, 10_000),
);
const imageConfig = obj(
  {
    created: str(64),
    author: str(4096),
    architecture: str(64),
    os: str(64),
    'os.version': str(256),
    'os.features': arr(str(256), 64),
    variant: str(64),
    config: containerConfig,
    rootfs: obj({ type: oneOf('layers'), diff_ids: arr(digest, 10_000) }),
    history: arr(history, 10_000),
  },
  ['created', 'author', 'os.version', 'os.features', 'variant', 'config', 'history'],
  json(8, 10_000),
);

/** What `kiln debug graph` adds beside the definition; read as informative only. */
const graphFile = obj(
  {
    version: int(1, 1),
    vertices: arr(vertexSchema, GRAPH_LIMITS.vertices),
    results: record(obj({ root: nullable(digest), config: imageConfig }), GRAPH_LIMITS.results),
    target: str(4096),
    platform: str(64),
    edges: arr(obj({ from: digest, to: digest }), GRAPH_LIMITS.edges),
    warnings: json(4, 100_000),
  },
  ['target', 'platform', 'edges', 'warnings'],
);

function invalid(file: string, message: string, code: ErrorCode = 'GRAPH_INVALID_DEFINITION'): KilnError {
  // The other codes carry their own hint (errors/codes.ts).
  const hint =
    code === 'GRAPH_INVALID_DEFINITION' || code === 'GRAPH_TOO_LARGE'
      ? 'write the graph as `kiln debug graph` prints it (docs/graph.md)'
      : undefined;
  return new KilnError(code, `graph ${file}: ${message}`, { hint });
}

/** Parse and check a graph file's text; the Definition has every digest recomputed. */
export function parseGraphJson(text: string, file = 'graph'): Definition {
  if (text.length > GRAPH_LIMITS.bytes) {
    throw invalid(file, `is larger than ${GRAPH_LIMITS.bytes >> 20} MiB`, 'GRAPH_TOO_LARGE');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `is not JSON: ${(err as Error).message}`, 'GRAPH_INVALID_JSON');
  }
  return loadGraph(data, file);
}

/** Check an already-parsed graph file and rebuild its Definition. */
export function loadGraph(data: unknown, file = 'graph'): Definition {
  try {
    check(graphFile, data);
  } catch (err) {
    if (err instanceof SchemaError) throw invalid(file, err.message, 'GRAPH_SCHEMA_VIOLATION');
    throw err;
  }
  const d = data as {
    vertices: SerializedVertex[];
    results: Record<string, { root: Digest | null; config: ImageConfig }>;
  };
  const order = orderVertices(d.vertices, file);
  const built = new Map<Digest, Vertex>();
  for (const i of order) {
    const sv = d.vertices[i];
    const where = `$.vertices[${i}]`;
    const meta: VertexMeta = {};
    if (sv.description !== undefined) meta.description = sv.description;
    if (sv.location !== undefined) meta.location = sv.location;
    if (sv.ignoreCache !== undefined) meta.ignoreCache = sv.ignoreCache;
    if (sv.proxyEnv !== undefined) meta.proxyEnv = sv.proxyEnv;
    let v: Vertex;
    try {
      v = vertex(
        sv.op,
        sv.inputs.map((dg) => built.get(dg)!),
        meta,
      );
    } catch (err) {
      if (err instanceof KilnError) throw invalid(file, `${where}: ${err.message}`, 'GRAPH_SCHEMA_VIOLATION');
      throw err;
    }
    checkOp(v.op, sv.inputs.length, where, file);
    if (v.digest !== sv.digest) {
      throw invalid(
        file,
        `${where} says digest ${sv.digest}, but its content digests to ${v.digest}`,
        'GRAPH_DIGEST_MISMATCH',
      );
    }
    built.set(v.digest, v);
  }
  const results: Record<string, Result> = {};
  const names = Object.keys(d.results);
  if (names.length === 0) throw invalid(file, 'has no results: nothing to build', 'GRAPH_SCHEMA_VIOLATION');
  for (const name of names) {
    const r = d.results[name];
    const root = r.root === null ? null : built.get(r.root);
    if (root === undefined)
      throw invalid(file, `result "${name}" names ${r.root}, which is not a vertex of the graph`);
    results[name] = { root, config: r.config };
  }
  return definition(results);
}

/** Vertex indices, inputs first (Kahn's algorithm); duplicates, dangling references and cycles refused. */
function orderVertices(vertices: SerializedVertex[], file: string): number[] {
  const index = new Map<Digest, number>();
  let edges = 0;
  for (const [i, v] of vertices.entries()) {
    if (index.has(v.digest)) throw invalid(file, `$.vertices[${i}]: vertex ${v.digest} is defined twice`);
    index.set(v.digest, i);
    edges += v.inputs.length;
  }
  if (edges > GRAPH_LIMITS.edges)
    throw invalid(file, `has ${edges} edges (at most ${GRAPH_LIMITS.edges})`, 'GRAPH_TOO_LARGE');
  const users: number[][] = vertices.map(() => []);
  const waiting = vertices.map((v) => v.inputs.length);
  for (const [i, v] of vertices.entries()) {
    for (const dg of v.inputs) {
      const j = index.get(dg);
      if (j === undefined)
        throw invalid(file, `$.vertices[${i}] reads ${dg}, which is not a vertex of the graph`);
      users[j].push(i);
      if (users[j].length > GRAPH_LIMITS.fanOut) {
        throw invalid(
          file,
          `vertex ${dg} is read by more than ${GRAPH_LIMITS.fanOut} vertices`,
          'GRAPH_TOO_LARGE',
        );
      }
    }
  }
  const order: number[] = [];
  const ready = vertices.flatMap((_, i) => (waiting[i] === 0 ? [i] : []));
  while (ready.length > 0) {
    const i = ready.pop()!;
    order.push(i);
    for (const u of users[i]) if (--waiting[u] === 0) ready.push(u);
  }
  if (order.length < vertices.length) throw cycleError(vertices, waiting, index, file);
  return order;
}

/** Name one cycle among the vertices Kahn's algorithm could not order. */
function cycleError(
  vertices: SerializedVertex[],
  waiting: number[],
  index: Map<Digest, number>,
  file: string,
): KilnError {
  let i = waiting.findIndex((w) => w > 0);
  const seen = new Map<number, number>();
  const path: number[] = [];
  while (!seen.has(i)) {
    seen.set(i, path.length);
    path.push(i);
    i = vertices[i].inputs.map((dg) => index.get(dg)!).find((j) => waiting[j] > 0)!;
  }
  const cycle = [...path.slice(seen.get(i)!), i].map((j) => vertices[j].digest.slice(7, 19));
  return invalid(file, `has a cycle: ${cycle.join(' → ')} (a vertex cannot read itself)`, 'GRAPH_CYCLE');
}

/** `p` resolved lexically against `cwd`: undefined when `..` climbs above the root. */
function insideRoot(p: string, cwd = '/'): boolean {
  let depth = 0;
  for (const part of (p.startsWith('/') ? p : `${cwd}/${p}`).split('/')) {
    if (part === '..') {
      if (--depth < 0) return false;
    } else if (part !== '' && part !== '.') depth++;
  }
  return true;
}

/** Semantic checks the schema cannot make: input indices, image references, paths inside roots. */
function checkOp(o: Op, inputCount: number, where: string, file: string): void {
  const paths: [string, string, string?][] = [];
  switch (o.type) {
    case 'source':
      if (o.kind === 'image') {
        try {
          parseReference(o.ref);
        } catch (err) {
          throw invalid(file, `${where}.op.ref: ${(err as Error).message}`, 'GRAPH_SCHEMA_VIOLATION');
        }
      }
      if (o.kind === 'local')
        for (const [k, p] of o.followPaths.entries()) paths.push([`followPaths[${k}]`, p]);
      if (o.kind === 'git') paths.push(['subdir', o.subdir]);
      break;
    case 'exec':
      paths.push(['cwd', o.cwd]);
      for (const [k, m] of o.mounts.entries()) {
        paths.push([`mounts[${k}].target`, m.target]);
        if (m.type === 'bind' || m.type === 'cache') paths.push([`mounts[${k}].selector`, m.selector]);
      }
      break;
    case 'file':
      paths.push(['cwd', o.cwd]);
      for (const [k, a] of o.actions.entries()) {
        const at = `actions[${k}]`;
        if (a.action === 'copy') {
          for (const [n, p] of a.srcPaths.entries()) paths.push([`${at}.srcPaths[${n}]`, p]);
          paths.push([`${at}.dest`, a.dest, o.cwd]);
        } else if (a.action === 'symlink') paths.push([`${at}.newpath`, a.newpath, o.cwd]);
        else paths.push([`${at}.path`, a.path, o.cwd]);
      }
      break;
    default:
      break;
  }
  for (const [what, p, cwd] of paths) {
    if (!insideRoot(p, cwd)) {
      throw invalid(
        file,
        `${where}.op.${what}: path ${JSON.stringify(p)} climbs out of its root`,
        'GRAPH_PATH_ESCAPE',
      );
    }
  }
  // Every input must be one the op reads: a graph cannot smuggle in work nothing uses.
  const used = new Set<number>();
  const use = (i: number | null) => {
    if (i !== null) used.add(i);
  };
  if (o.type === 'exec') {
    use(o.rootfs);
    for (const m of o.mounts) if (m.type === 'bind' || m.type === 'cache') use(m.input);
  } else if (o.type === 'file') {
    use(o.base);
    for (const a of o.actions) if (a.action === 'copy') use(a.src);
  } else if (o.type === 'merge') for (const i of o.inputs) use(i);
  else if (o.type === 'diff') {
    use(o.lower);
    use(o.upper);
  }
  for (let i = 0; i < inputCount; i++) {
    if (!used.has(i))
      throw invalid(file, `${where}: input ${i} is not read by the op`, 'GRAPH_SCHEMA_VIOLATION');
  }
}
