/**
 * Graph ops as solver work: each vertex becomes a Job whose run() calls the worker and whose
 * contentKey() adds what the digest cannot know — the checksum of exactly the context files a
 * COPY or a bind mount reads — so editing an unrelated file keeps the cache warm. A COPY from
 * another stage or image reads that input by content (the solver's ContentInputs): a changed
 * stage that leaves the copied files as they were still hits.
 */
import type { BlobHolder } from '../content/content.ts';
import { sha256 } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { CopyAction, FileOp, Op } from '../graph/ops.ts';
import { reachable, type Vertex, vertexDigest } from '../graph/vertex.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { ContentInputs, Job, JobContext, ResultCache } from '../solver/solver.ts';
import { releaseDeadHeap } from '../sys/gc.ts';
import type { BuildState, DirState, FsState } from './state.ts';

/** The local source the build context is (pipeline/frontend.ts names it). */
const MAIN_CONTEXT = 'context';

/** What running the ops needs: `runners.ts` makes it for a build. */
export interface OpRunners {
  image(op: Extract<Op, { kind: 'image' }>): Promise<BuildState>;
  local(op: Extract<Op, { kind: 'local' }>): Promise<BuildState>;
  http(op: Extract<Op, { kind: 'http' }>, ctx: JobContext): Promise<BuildState>;
  git(op: Extract<Op, { kind: 'git' }>, ctx: JobContext): Promise<BuildState>;
  exec(
    op: Extract<Op, { type: 'exec' }>,
    inputs: BuildState[],
    ctx: JobContext,
    /** Proxy variables (HTTP_PROXY, …): in the process env, but not in the cache key. */
    extraEnv?: Record<string, string>,
    /** Told when the RUN's process has started. */
    started?: () => void,
  ): Promise<BuildState>;
  file(op: FileOp, inputs: BuildState[], ctx: JobContext): Promise<BuildState>;
  merge(inputs: BuildState[], ctx: JobContext): Promise<BuildState>;
  /** Checksum of what a copy reads from a directory input; `visit` is told each entry read. */
  dirChecksum(
    dir: DirState,
    paths: string[],
    copy?: CopyAction,
    visit?: (path: string, type: string, mode: number, content: string) => void,
    /** Other steps run meanwhile: take the checksum in slices that let them (KeyContext.beside). */
    inSlices?: boolean,
  ): Promise<string>;
  /** Checksum of what copies read from another stage's (or image's) filesystem. */
  stageChecksum(state: FsState, copies: CopyAction[], signal: AbortSignal): Promise<string>;
  /**
   * Read, of the layers of `state`, what linking `copies`' files from them will read (their
   * attribute trees, fileops/layer-links.ts), and keep it for those copies.
   */
  layerTreesAhead?(state: FsState, copies: CopyAction[]): Promise<void>;
  /**
   * A view of a state is a mount, not a copy (overlay; the native driver copies the whole
   * filesystem for one): only then is a checksum read ahead (readAhead) worth taking.
   */
  readonly cheapViews?: boolean;
}

export interface JobOptions {
  /** Vertices that must not be served from cache (--no-cache, --no-cache-filter). */
  ignoreCache(v: Vertex): boolean;
  /** Entitlements the user granted (`--allow`): RUN --network=host and --security=insecure need them. */
  allow?: readonly string[];
  /** `--network`: the network of RUN steps that choose none; part of their identity. */
  defaultNetwork?: 'default' | 'none' | 'host';
  /** Called with what each step produced when it ran (not for cache hits). */
  onResult?: (v: Vertex, state: BuildState) => void;
}

/** BuildKit refuses privileged RUN options unless the build was started with `--allow`. */
function checkEntitlements(op: Extract<Op, { type: 'exec' }>, v: Vertex, allow: readonly string[]): void {
  const need =
    op.network === 'host' && !allow.includes('network.host')
      ? 'network.host'
      : op.security === 'insecure' && !allow.includes('security.insecure')
        ? 'security.insecure'
        : undefined;
  if (!need) return;
  throw new KilnError(
    'ENTITLEMENT_DENIED',
    `${v.meta.description ?? 'a RUN step'} needs the ${need} entitlement, which this build was not granted`,
    {
      hint: `allow it with --allow ${need} if you trust this Dockerfile`,
      location: v.meta.location,
    },
  );
}

function describe(v: Vertex): string {
  if (v.meta.description) return v.meta.description;
  const op = v.op;
  if (op.type === 'source') {
    if (op.kind === 'image') return `[internal] load metadata for ${op.ref}`;
    if (op.kind === 'local' && op.name === MAIN_CONTEXT) return '[internal] load build context';
    return `[internal] load ${op.kind} ${'name' in op ? op.name : op.url}`;
  }
  return `${op.type} ${v.digest.slice(7, 19)}`;
}

/** Whether a vertex itself must not be served from cache (not counting its inputs). */
function ignores(opts: Pick<JobOptions, 'ignoreCache'>, v: Vertex): boolean {
  return opts.ignoreCache(v) || v.meta.ignoreCache === true;
}

/**
 * Before a build whose RUN steps ignore the cache (`--no-cache`, `--no-cache-filter`) starts,
 * empty the cache mounts those steps use, as BuildKit does: every step of the build that mounts
 * one of them (ignoring the cache or not) then starts from an empty directory.
 */
export async function resetIgnoredCacheMounts(
  stateRoot: string,
  roots: readonly Vertex[],
  opts: Pick<JobOptions, 'ignoreCache'>,
): Promise<void> {
  const ids = new Set<string>();
  for (const v of reachable(roots))
    if (v.op.type === 'exec' && ignores(opts, v))
      for (const m of v.op.mounts) if (m.type === 'cache') ids.add(m.id);
  if (ids.size === 0) return;
  const { resetCacheMounts } = await import('../executor/run-mounts.ts');
  await resetCacheMounts(stateRoot, ids);
}

/** Build the job graph for the given roots; shared vertices become one job. */
export function jobsFor(runners: OpRunners, opts: JobOptions): (v: Vertex) => Job<BuildState> {
  const memo = new Map<string, Job<BuildState>>();
  // A vertex that must not come from cache forces everything built on it to run as well: the
  // solver looks up a job's cache before solving its inputs, so a cached dependent would
  // otherwise hide the ignored step and it would never run (--no-cache-filter did nothing).
  const forcedMemo = new Map<string, boolean>();
  const forced = (v: Vertex): boolean => {
    let f = forcedMemo.get(v.digest);
    if (f === undefined) {
      f = ignores(opts, v) || v.inputs.some(forced);
      forcedMemo.set(v.digest, f);
    }
    return f;
  };
  // What later steps copy from each RUN's result, by the RUN's vertex digest: one list per step,
  // as its checksum of that input takes them (all known before anything runs: the graph's jobs
  // are made first). See readAhead.
  const readLater = new Map<string, CopyAction[][]>();
  const make = (v: Vertex): Job<BuildState> => {
    const found = memo.get(v.digest);
    if (found) return found;
    const op = v.op;
    const inputs = v.inputs.map(make);
    const isDirSource = op.type === 'source' && op.kind !== 'image';
    if (op.type === 'exec') checkEntitlements(op, v, opts.allow ?? []);
    // A RUN without its own --network runs with the build's, which then belongs to its identity.
    const network =
      op.type === 'exec' &&
      op.network === 'default' &&
      opts.defaultNetwork &&
      opts.defaultNetwork !== 'default'
        ? opts.defaultNetwork
        : undefined;
    // The op alone: inputs enter the cache key by their keys (a vertex digest covers theirs).
    const opDigest = vertexDigest(op, []);
    // A RUN's preview is the state it starts from, once its process runs (Job.preview): a later
    // COPY --from of what it leaves alone is made meanwhile. Only where a view is a mount.
    let show: ((state: BuildState | undefined) => void) | undefined;
    const preview =
      op.type === 'exec' && runners.cheapViews
        ? new Promise<BuildState | undefined>((resolve) => {
            show = resolve;
          })
        : undefined;
    const job: Job<BuildState> = {
      digest: network ? sha256(`${v.digest} network=${network}`) : v.digest,
      keyDigest: network ? sha256(`${opDigest} network=${network}`) : opDigest,
      inputs,
      name: describe(v),
      location: v.meta.location,
      // Directory sources are read in place every build; their content enters dependents' keys.
      noCache: isDirSource,
      // --no-cache runs the step again but records what it made, as BuildKit does.
      ignoreCache: forced(v),
      // BuildKit shows reading the main context as a step, not the other local sources.
      hidden: op.type === 'source' && op.kind === 'local' && op.name !== MAIN_CONTEXT,
      contentKey: contentKeyOf(v, runners),
      contentInputs: contentInputsOf(v, runners),
      preview: preview && (() => preview),
      source: v,
      run: async (ins, ctx) => {
        const state = await runOp(ins, ctx);
        // A step over 100,000s of files leaves a heap of dead rows the next step would grow on.
        releaseDeadHeap();
        opts.onResult?.(v, state);
        return state;
      },
    };
    function runOp(ins: BuildState[], ctx: JobContext): Promise<BuildState> {
      switch (op.type) {
        case 'source':
          if (op.kind === 'image') return runners.image(op);
          if (op.kind === 'local') return runners.local(op);
          if (op.kind === 'http') return runners.http(op, ctx);
          return runners.git(op, ctx);
        case 'exec': {
          let ahead: Promise<void> | undefined;
          const reads = readLater.get(v.digest);
          const base = op.rootfs === null ? undefined : ins[op.rootfs];
          const started = () => {
            if (base?.kind !== 'fs') return;
            if (reads && runners.cheapViews) ahead ??= readAhead(runners, base, reads, ctx.signal);
            show?.(base);
          };
          const run = runners.exec(network ? { ...op, network } : op, ins, ctx, v.meta.proxyEnv, started);
          return run.finally(() => {
            show?.(undefined);
            return ahead;
          });
        }
        case 'file':
          return runners.file(op, ins, ctx);
        case 'merge':
          return runners.merge(
            op.inputs.map((i) => ins[i]),
            ctx,
          );
        default:
          throw new KilnError('UNSUPPORTED_OP', `graph op "${op.type}" is not supported by this worker yet`);
      }
    }
    if (op.type === 'file' && job.contentInputs) {
      for (const i of job.contentInputs.indexes) {
        const from = v.inputs[i];
        if (from.op.type !== 'exec') continue;
        const reads = op.actions.filter((a): a is CopyAction => a.action === 'copy' && a.src === i);
        readLater.set(from.digest, [...(readLater.get(from.digest) ?? []), reads]);
      }
    }
    memo.set(v.digest, job);
    return job;
  };
  return make;
}

/**
 * While a RUN runs, the checksums later `COPY --from`s of its result will take are taken of the
 * state it starts from: what the RUN leaves alone is then hashed already (file digests are kept
 * by inode, context/inodedigests.ts), and the checksum after it only walks. `npm ci` in one step,
 * a build in the next and a copy of node_modules after it: the new packages' files are read while
 * the build runs, not after it. Each step's copies together, as its own checksum takes them (the
 * same stored sum then answers it when the RUN leaves the copied paths alone); one step's at a
 * time, so that a source one of them names and the state lacks yet stops only that one. Best
 * effort: a failure or a cancel just ends it (the real checksum reads whatever it must).
 */
async function readAhead(
  runners: OpRunners,
  base: FsState,
  reads: readonly CopyAction[][],
  signal: AbortSignal,
): Promise<void> {
  for (const copies of reads) {
    if (signal.aborted) return;
    await runners.stageChecksum(base, copies, signal).catch(() => undefined);
    // The copy links from these layers too: the attributes it checks there, read now.
    if (!signal.aborted) await runners.layerTreesAhead?.(base, copies).catch(() => undefined);
  }
}

/** For each input that is a directory, what the vertex reads of it. */
function contentKeyOf(v: Vertex, runners: OpRunners): Job<BuildState>['contentKey'] {
  const reads = new Map<number, { paths: string[]; copy?: CopyAction }[]>();
  const add = (i: number | null, paths: string[], copy?: CopyAction) => {
    if (i === null) return;
    const srcOp = v.inputs[i]?.op;
    if (srcOp?.type !== 'source' || srcOp.kind === 'image') return;
    const list = reads.get(i) ?? [];
    list.push({ paths, copy });
    reads.set(i, list);
  };
  const op = v.op;
  if (op.type === 'file') for (const a of op.actions) if (a.action === 'copy') add(a.src, a.srcPaths, a);
  if (op.type === 'exec') for (const m of op.mounts) if (m.type === 'bind') add(m.input, [m.selector || '/']);
  // A directory used as a whole root filesystem (a named context in FROM) is read entirely.
  if (op.type === 'file') add(op.base, ['/']);
  if (op.type === 'exec') add(op.rootfs, ['/']);
  if (op.type === 'merge') for (const i of op.inputs) add(i, ['/']);
  if (reads.size === 0) return undefined;
  return async (ctx) => {
    const parts: string[] = [];
    for (const [i, list] of [...reads.entries()].sort((a, b) => a[0] - b[0])) {
      const state = await ctx.input(i);
      if (state.kind !== 'dir') continue;
      const beside = await ctx.beside;
      for (const r of list) {
        parts.push(`${i}:${await runners.dirChecksum(state, r.paths, r.copy, undefined, beside)}`);
      }
    }
    return parts.join(',');
  };
}

/**
 * The filesystem inputs a file op only copies from (another stage, an image), read by content:
 * BuildKit keys a copy from another stage by the checksum of the copied files too. An input that
 * is also the base, or a --parents copy (which recreates the source's parent directories, whose
 * metadata the walk under the source does not see), keeps its plain key.
 */
function contentInputsOf(v: Vertex, runners: OpRunners): ContentInputs<BuildState> | undefined {
  const op = v.op;
  if (op.type !== 'file') return undefined;
  const reads = new Map<number, CopyAction[]>();
  const plain = new Set<number>();
  for (const a of op.actions) {
    if (a.action !== 'copy' || a.src === null) continue;
    const srcOp = v.inputs[a.src]?.op;
    if (!srcOp || (srcOp.type === 'source' && srcOp.kind !== 'image')) continue;
    if (a.src === op.base || a.parents) plain.add(a.src);
    const list = reads.get(a.src) ?? [];
    list.push(a);
    reads.set(a.src, list);
  }
  for (const i of plain) reads.delete(i);
  if (reads.size === 0) return undefined;
  return {
    indexes: [...reads.keys()].sort((a, b) => a - b),
    async checksum(i, state, signal) {
      const copies = reads.get(i) ?? [];
      if (state.kind === 'fs') return runners.stageChecksum(state, copies, signal);
      // A stage that is a directory (FROM a named context): its files, as for a context.
      const parts = [];
      for (const c of copies) parts.push(await runners.dirChecksum(state, c.srcPaths, c));
      return `dir:${parts.join(',')}`;
    },
  };
}

/**
 * The persistent instruction cache, validated: a hit's snapshots and the layer blobs it names
 * are held for the build before they are checked, so a prune in any process either skips them
 * from then on or has already removed them, and then the hit is a miss.
 */
export function validatedCache(
  cache: {
    getResult<T>(k: string): T | undefined;
    putResult(k: string, v: unknown): void;
    deleteResult(k: string): void;
    getLink(k: string): string | undefined;
    putLink(k: string, target: string): void;
    hasNoResults(): boolean;
  },
  sn: Snapshotter,
  content: BlobHolder,
): ResultCache<BuildState> {
  return {
    async get(key) {
      const r = cache.getResult<BuildState>(key);
      if (r?.kind !== 'fs') return undefined;
      const blobs = r.layers.flatMap((l) => (l.layer ? [l.layer.digest] : []));
      const absent = [
        ...(await sn.hold(r.layers.map((l) => l.snapshot))),
        ...(blobs.length ? await content.hold(blobs) : []),
      ];
      if (absent.length) {
        cache.deleteResult(key);
        return undefined;
      }
      return r;
    },
    async has(key) {
      return cache.getResult<BuildState>(key)?.kind === 'fs';
    },
    async empty() {
      return cache.hasNoResults();
    },
    async put(key, r) {
      if (r.kind === 'fs') cache.putResult(key, r);
    },
    async getLink(key) {
      return cache.getLink(key);
    },
    async putLink(key, target) {
      cache.putLink(key, target);
    },
  };
}
