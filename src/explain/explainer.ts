/**
 * The solver's Explainer for graph jobs: on a miss, it records what the step's cache key is made
 * of (its op, its inputs' keys, the files it reads from the context as digests) and compares that
 * with the step's most recent earlier record (same Dockerfile and stage position, else the same
 * op on the same base); on a hit, it finds which earlier build made the result. Records are
 * written once, when the build ends.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { resolveInRoot } from '../confine/resolve.ts';
import { sha256 } from '../digest/digest.ts';
import type { CopyAction } from '../graph/ops.ts';
import type { Vertex } from '../graph/vertex.ts';
import type { Explainer, Job } from '../solver/solver.ts';
import { isoTime } from '../sys/time.ts';
import type { BuildState, DirState } from '../worker/state.ts';
import { missReason, positionOf } from './reasons.ts';
import { type ExplainStore, MAX_FILES_PER_STEP, openHistory, type StepRecord } from './records.ts';

/** Lists what a copy reads of a directory, telling `visit` each entry (the context checksum). */
export type ListFiles = (
  dir: DirState,
  paths: string[],
  copy: CopyAction | undefined,
  visit: (path: string, type: string, mode: number, content: string) => void,
) => Promise<unknown>;

export interface ExplainerOptions {
  /** The state root: records live in its history.db. */
  root: string;
  buildId: string;
  /** Absolute path of the Dockerfile: steps are matched by it and their stage position. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  noCache: boolean;
  /** Say for hits too where they came from (`kiln build --explain`). */
  showHits: boolean;
  listFiles: ListFiles;
}

/** What the explainer learnt of one step (by job digest), for reports and the metadata file. */
export interface StepNote {
  name: string;
  cached: boolean;
  reason?: string;
  /** The build that made a hit's result, and when (ms). */
  origin?: { build: string; at: number };
}

export class BuildExplainer implements Explainer<BuildState> {
  readonly notes = new Map<string, StepNote>();
  private readonly opts: ExplainerOptions;
  private readonly pending: { ids: string[]; record: StepRecord }[] = [];
  private db?: ExplainStore;

  constructor(opts: ExplainerOptions) {
    this.opts = opts;
  }

  /** The records database, opened on first use. */
  store(): ExplainStore {
    this.db ??= openHistory(join(this.opts.root, 'history.db'));
    return this.db;
  }

  hit(job: Job<BuildState>, key: string): string | undefined {
    const origin = this.quietly(() => this.store().origin(key));
    this.notes.set(job.digest, { name: job.name, cached: true, origin });
    if (!this.opts.showHits) return undefined;
    return origin
      ? `cache hit: made by build ${origin.build.slice(0, 12)} at ${isoTime(origin.at)}`
      : 'cache hit: made by a build kiln kept no record of';
  }

  async miss(job: Job<BuildState>, key: string, inputKeys: string[], inputs: BuildState[]): Promise<string> {
    const v = job.source as Vertex | undefined;
    const record = await this.recordOf(job, v, key, inputKeys, inputs);
    const ids = this.idsOf(job, v, record);
    let prev: StepRecord | undefined;
    for (const id of ids) {
      prev = this.quietly(() => this.store().step(id));
      if (prev) break;
    }
    const dir = inputs.find((i): i is DirState => i.kind === 'dir');
    const reason = missReason(prev, record, {
      ignored: job.ignoreCache ? this.ignoredWhy(v) : undefined,
      exists: (p) => dir !== undefined && existsIn(dir.dir, p),
    });
    this.notes.set(job.digest, { name: job.name, cached: false, reason });
    this.pending.push({ ids, record });
    return `cache miss: ${reason}`;
  }

  /** Close the database, writing nothing (the build runs again elsewhere). */
  discard(): void {
    this.db?.close();
    this.db = undefined;
  }

  /** Write what ran this build; then the database closes. */
  finish(build?: { at: number; value: unknown }): void {
    try {
      const store = this.store();
      store.putSteps(this.pending);
      if (build) store.putBuild(this.opts.buildId, build.at, build.value);
    } finally {
      this.db?.close();
      this.db = undefined;
    }
  }

  /** History explains a build, it never fails one: a database it cannot read explains less. */
  private quietly<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch {
      return undefined;
    }
  }

  private ignoredWhy(v: Vertex | undefined): string {
    if (this.opts.noCache) return '--no-cache';
    if (v?.meta.ignoreCache) return '--no-cache-filter names its stage';
    return 'a step it builds on ignores the cache (--no-cache-filter)';
  }

  /**
   * Where to look for the step's earlier record, nearest first: the same position with the same
   * inputs (then the cause is in the step itself), the same position, the same op on the same base.
   */
  private idsOf(job: Job<BuildState>, v: Vertex | undefined, record: StepRecord): string[] {
    const ids: string[] = [];
    const pos = positionOf(job.name);
    const inputs = record.inputs.filter((i) => !i.dir).map((i) => i.key);
    if (pos) {
      ids.push(`in:${sha256(`${this.opts.dockerfile}\0${pos}\0${inputs.join(',')}`)}`);
      ids.push(`pos:${sha256(`${this.opts.dockerfile}\0${pos}`)}`);
    }
    if (v) ids.push(`op:${sha256(`${opDigest(v)}\0${v.inputs[0]?.digest ?? ''}`)}`);
    return ids;
  }

  private async recordOf(
    job: Job<BuildState>,
    v: Vertex | undefined,
    key: string,
    inputKeys: string[],
    inputs: BuildState[],
  ): Promise<StepRecord> {
    const record: StepRecord = {
      name: job.name,
      key,
      op: v ? opDigest(v) : job.digest,
      inputs: job.inputs.map((i, n) => ({
        name: i.name,
        key: inputKeys[n],
        ...(inputs[n]?.kind === 'dir' ? { dir: true } : {}),
      })),
      build: this.opts.buildId,
      at: Date.now(),
    };
    if (!v) return record;
    const op = v.op;
    if (op.type === 'source' && op.kind === 'image') record.image = op.ref;
    if (op.type === 'exec' && op.env.length) {
      const env: Record<string, string> = {};
      for (const e of op.env.slice(0, 64)) {
        const eq = e.indexOf('=');
        if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1, eq + 201);
      }
      record.env = env;
      const names = Object.keys(env).filter((n) => Object.hasOwn(this.opts.buildArgs, n));
      if (names.length) record.argNames = names;
    }
    await this.readFiles(v, inputs, record);
    return record;
  }

  /** The files the step reads from its directory inputs (as the context checksum walks them). */
  private async readFiles(v: Vertex, inputs: BuildState[], record: StepRecord): Promise<void> {
    const reads: { i: number; paths: string[]; copy?: CopyAction }[] = [];
    const op = v.op;
    if (op.type === 'file')
      for (const a of op.actions)
        if (a.action === 'copy' && a.src !== null) reads.push({ i: a.src, paths: a.srcPaths, copy: a });
    if (op.type === 'exec')
      for (const m of op.mounts)
        if (m.type === 'bind' && m.input !== null) reads.push({ i: m.input, paths: [m.selector || '/'] });
    if (op.type === 'file' && op.base !== null) reads.push({ i: op.base, paths: ['/'] });
    if (op.type === 'exec' && op.rootfs !== null) reads.push({ i: op.rootfs, paths: ['/'] });
    const files: Record<string, string> = {};
    const all = createHash('sha256');
    let count = 0;
    let excludes: string | undefined;
    for (const r of reads) {
      const state = inputs[r.i];
      if (state?.kind !== 'dir') continue;
      if (state.excludePatterns.length) excludes = sha256(state.excludePatterns.join('\n'));
      await this.opts.listFiles(state, r.paths, r.copy, (path, type, mode, content) => {
        const entry = `${type} ${(mode & 0o7777).toString(8)} ${content}`;
        all.update(`${path}\0${entry}\n`);
        if (++count <= MAX_FILES_PER_STEP) files[path] = entry;
      });
    }
    if (count === 0 && excludes === undefined) return;
    record.files = count <= MAX_FILES_PER_STEP ? files : {};
    if (count > MAX_FILES_PER_STEP) {
      record.filesTotal = count;
      record.filesDigest = `sha256:${all.digest('hex')}`;
    }
    if (excludes) record.excludes = excludes;
  }
}

/** The digest of a vertex's op without its inputs: what changes when its instruction does. */
function opDigest(v: Vertex): string {
  return sha256(JSON.stringify(v.op));
}

/** Whether a context-relative path names something, resolved inside the context (links never leave it). */
function existsIn(dir: string, path: string): boolean {
  try {
    return resolveInRoot(dir, path, false).exists;
  } catch {
    return false;
  }
}
