/**
 * The generic solver: runs a DAG of jobs. Equal jobs (same digest) run once; independent
 * branches run concurrently up to a parallelism bound; each job's cache key is its digest, its
 * inputs' keys and any content key it computes (or, for inputs it reads by content, what it
 * reads of them: ContentInputs), and a hit in the cache skips the job (and, when nothing
 * downstream needs them, its inputs). It knows nothing about ops or Dockerfiles.
 */
import { sha256 } from '../digest/digest.ts';
import type { SourceLocation } from '../errors/errors.ts';
import { KilnError, withLocation } from '../errors/errors.ts';
import { discardProgress, errorText, type ProgressEvent, type ProgressSink } from '../progress/events.ts';
import { Semaphore } from '../sys/limit.ts';

/** What a job can do while it runs. */
export interface JobContext {
  readonly progress: ProgressSink;
  readonly signal: AbortSignal;
  /** The id progress events of this job carry. */
  readonly id: string;
}

export interface Job<R> {
  /** Identity of the work; equal digests mean equal work. */
  readonly digest: string;
  /**
   * The job's identity apart from its inputs, which enter its cache key by their keys (default
   * `digest`). A digest that covers the inputs' digests (a graph vertex's) would tie a job's key to
   * its inputs' identities: a content-keyed input (ContentInputs) could not keep its dependents'
   * keys when its source changed but the content it read did not.
   */
  readonly keyDigest?: string;
  readonly inputs: readonly Job<R>[];
  /** For progress, e.g. "[build 2/4] RUN make". */
  readonly name: string;
  readonly location?: SourceLocation;
  /** Never cached: neither looked up nor recorded (a directory read in place every build). */
  readonly noCache?: boolean;
  /**
   * Run even when the cache holds a result, and record the new one (`--no-cache`, as BuildKit's
   * IgnoreCache: existing records are ignored, new ones still written, so the next build is warm).
   */
  readonly ignoreCache?: boolean;
  /** Not shown in progress (internal plumbing). */
  readonly hidden?: boolean;
  /** Opaque to the solver: what the job was made from, for an Explainer (e.g. the graph vertex). */
  readonly source?: unknown;
  /**
   * Extra cache-key material known only at build time (e.g. the checksum of the context files a
   * COPY reads). It may resolve inputs it needs; return undefined when the digest says it all.
   */
  contentKey?(ctx: KeyContext<R>): Promise<string | undefined>;
  /**
   * Inputs keyed by what this job reads of their results, not by their keys (BuildKit's
   * content-based cache, for COPY --from=stage): see ContentInputs.
   */
  readonly contentInputs?: ContentInputs<R>;
  /**
   * A result that jobs reading this one by content may run ahead on while this one runs: it
   * resolves once the job's own work has started (a RUN's starting state, once its process runs),
   * or to undefined. A job that reads the same content of it as of the result it then makes takes
   * the run it made ahead (see Solver.runAhead).
   */
  readonly preview?: () => Promise<R | undefined>;
  run(inputs: R[], ctx: JobContext): Promise<R>;
}

/**
 * A job with content inputs has two keys, as in BuildKit. The cheap one (digest, input keys,
 * content key) needs no input solved; the cache links it to the key the result was stored under,
 * made from the checksum of what the job reads of each content input instead of that input's
 * key, so a changed stage that leaves the copied files as they were still hits. Every job built
 * on it has two keys as well (its effective one made from its inputs' effective keys), so
 * everything after a content hit hits too, and a warm build finds all of it by cheap keys and
 * links without solving or reading anything.
 */
export interface ContentInputs<R> {
  /** Indexes into `inputs`. */
  readonly indexes: readonly number[];
  /** Digest of what the job reads of input `i`'s result. */
  checksum(i: number, result: R, signal: AbortSignal): Promise<string>;
}

export interface KeyContext<R> {
  /** Solve input i (deduplicated with the rest of the build) and return its result. */
  input(i: number): Promise<R>;
  readonly signal: AbortSignal;
  /**
   * True once inputs of the job were started to run while its key is made (they miss the cache):
   * a long key should then let the event loop turn now and then, so that they do run.
   */
  readonly beside: Promise<boolean>;
}

/** Persistent instruction cache: cache key → result. */
export interface ResultCache<R> {
  get(key: string): Promise<R | undefined>;
  /**
   * Whether a result is stored under `key`, without making it usable (an imported result is not
   * downloaded): for deciding to start a job ahead of need. Without it, such jobs wait.
   */
  has?(key: string): Promise<boolean>;
  /**
   * Whether it holds no result at all (a fresh state root): every key misses. Without it, or for
   * a cache that answers for records it was not told of (an imported one), the solver never
   * assumes a miss.
   */
  empty?(): Promise<boolean>;
  put(key: string, result: R): Promise<void>;
  /**
   * The key a result was stored under, recorded for the cheap key of a job on content inputs
   * (ContentInputs); without links such jobs solve their content inputs every build.
   */
  getLink?(key: string): Promise<string | undefined>;
  putLink?(key: string, target: string): Promise<void>;
}

/**
 * Says why a job missed the cache (and, when asked, where a hit came from); the solver shows the
 * answer as one progress line under the step. Consulted only for jobs that look up the cache.
 */
export interface Explainer<R> {
  /** A job will run: `inputs` are its inputs' results, `inputKeys` their cache keys. */
  miss(job: Job<R>, key: string, inputKeys: string[], inputs: R[]): Promise<string | undefined>;
  /** A job was served from the cache. */
  hit(job: Job<R>, key: string): string | undefined;
}

export interface SolverOptions<R> {
  cache?: ResultCache<R>;
  explainer?: Explainer<R>;
  parallelism?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export interface Solved<R> {
  result: R;
  key: string;
  cached: boolean;
}

/** A job run ahead on a content input's preview (Solver.runAhead). */
interface AheadRun<R> {
  /** The name of the input it ran ahead of. */
  input: string;
  /** The key it runs under, once it is decided to run. */
  key?: string;
  /** Set when the job's own key was made first, or differs: it does not run, or is not taken. */
  dropped: boolean;
  /** Set dropped, and cancel the run if it is running. */
  drop(): void;
  /** Its progress, shown if it is taken. */
  events: ProgressEvent[];
  result: Promise<R | undefined>;
}

export class Solver<R> {
  private readonly cache?: ResultCache<R>;
  private readonly explainer?: Explainer<R>;
  private readonly limit: Semaphore;
  private readonly progress: ProgressSink;
  private readonly signal: AbortSignal;
  /** Effective keys (what results are stored under), and cheap keys (no input solved). */
  private readonly keys = new Map<string, Promise<string>>();
  private readonly cheap = new Map<string, Promise<string>>();
  private readonly contents = new Map<string, Promise<string | undefined>>();
  /** Whether a job is, or builds on, a job with content inputs (its two keys may differ). */
  private readonly tainted = new Map<string, boolean>();
  /** Keys computed so far, for explaining the steps a hit stands for. */
  private readonly known = new Map<string, string>();
  private readonly results = new Map<string, Promise<Solved<R>>>();
  private readonly reported = new Set<string>();
  /** Jobs on content inputs: a hit found while keying (taken by solve), the cheap key to link. */
  private readonly prefetched = new Map<string, R>();
  private readonly cheapKeys = new Map<string, string>();
  /** The input keys a job's effective key was made of (content digests for content inputs). */
  private readonly keyParts = new Map<string, string[]>();
  /** Jobs on a content input run ahead on its preview (runAhead), and those taken (solveOnce). */
  private readonly aheads = new Map<string, AheadRun<R>>();
  private readonly taken = new Map<string, AheadRun<R>>();
  /** Jobs that run while their key is made (Solver.missesForCertain), and their runs. */
  private readonly beforeKey = new Set<string>();
  private readonly early: Promise<unknown>[] = [];
  /** Whether the cache held no result when the build began (ResultCache.empty). */
  private readonly emptyCache: Promise<boolean>;
  /** Jobs whose failure was reported: a run and its key failing together say it once. */
  private readonly failed = new Set<string>();

  constructor(opts: SolverOptions<R> = {}) {
    this.cache = opts.cache;
    // Asked now, before this build records anything.
    this.emptyCache = this.cache?.empty ? this.cache.empty().catch(() => false) : Promise.resolve(false);
    this.explainer = opts.explainer;
    this.limit = new Semaphore(Math.max(1, opts.parallelism ?? 4));
    this.progress = opts.progress ?? discardProgress;
    this.signal = opts.signal ?? new AbortController().signal;
  }

  /** Solve a job and everything it needs; concurrent calls share work. */
  solve(job: Job<R>): Promise<Solved<R>> {
    let p = this.results.get(job.digest);
    if (!p) {
      p = this.solveOnce(job);
      this.results.set(job.digest, p);
    }
    return p;
  }

  /**
   * The cache key of a job as far as it is known without solving anything: the key its result
   * is stored under once the build has looked it up, else its cheap key (digest, input keys,
   * content key). For a job on content inputs the two can differ: the cheap key then leads to
   * the stored one through the cache's links (ResultCache.getLink).
   */
  async cacheKey(job: Job<R>): Promise<string> {
    const effective = this.keys.get(job.digest);
    return effective ? effective : this.cheapKey(job);
  }

  /** The key results are stored under (solving content inputs when nothing links to it). */
  private effectiveKey(job: Job<R>): Promise<string> {
    let p = this.keys.get(job.digest);
    if (!p) {
      p = this.computeKey(job);
      this.keys.set(job.digest, p);
    }
    return p;
  }

  private cheapKey(job: Job<R>): Promise<string> {
    let p = this.cheap.get(job.digest);
    if (!p) {
      p = (async () => {
        const inputKeys = await Promise.all(job.inputs.map((i) => this.cheapKey(i)));
        const key = await this.keyOf(job, inputKeys);
        if (!this.known.has(job.digest)) this.known.set(job.digest, key);
        return key;
      })();
      this.cheap.set(job.digest, p);
    }
    return p;
  }

  /**
   * A cache key: the job's own digest, what its inputs are keyed by (their keys, or for content
   * inputs the digest of what it reads of them) and its content key. Cheap, effective and run-ahead
   * keys are all made here, so that a run ahead's key is the very key its job would make.
   */
  private async keyOf(job: Job<R>, inputParts: readonly string[]): Promise<string> {
    return sha256(
      JSON.stringify([job.keyDigest ?? job.digest, inputParts, (await this.contentOf(job)) ?? null]),
    );
  }

  /** The job's content key, computed once (it may read a context). */
  private contentOf(job: Job<R>): Promise<string | undefined> {
    let p = this.contents.get(job.digest);
    if (!p) {
      // A content key can take seconds (a cold checksum of a big context, which lets the event
      // loop run between its steps). The inputs that run whatever it says start meanwhile: a cold
      // build's FROM and `RUN apt-get` need not wait for the hashing of the context a later COPY
      // reads.
      const beside = job.contentKey
        ? Promise.all([
            this.missesForCertain(job),
            ...job.inputs.map((input) => this.startIfMiss(input)),
          ]).then((s) => s.includes(true))
        : Promise.resolve(false);
      p = this.failsJob(job, async () =>
        job.contentKey
          ? job.contentKey({
              input: async (i) => (await this.solve(job.inputs[i])).result,
              signal: this.signal,
              beside,
            })
          : undefined,
      );
      this.contents.set(job.digest, p);
    }
    return p;
  }

  /**
   * Solve `job` now when it will run whatever the step on it finds: its own result is not in the
   * cache. The step's key is made of this job's, so the step cannot hit through it either, as
   * BuildKit reasons (a step over an input with no cache match runs it); only a record of the
   * step outliving its input's (pruned apart) makes this a run for nothing, which BuildKit would
   * do too. Jobs never cached (a context, read by the content key itself) and jobs on content
   * inputs (whose keys solve those inputs) are left to whoever needs them.
   */
  private async startIfMiss(job: Job<R>): Promise<boolean> {
    if (job.noCache || this.results.has(job.digest) || this.isTainted(job)) return false;
    try {
      const cache = this.cache && !job.ignoreCache ? this.cache : undefined;
      if (cache && (!cache.has || (await cache.has(await this.cheapKey(job))))) return false;
    } catch {
      return false; // a key that cannot be made fails where the job is needed
    }
    this.speculate(job);
    return true;
  }

  /**
   * Start `job` itself now, while its content key is made, when the cache held no result at all
   * as the build began (a fresh state root), or is not asked (--no-cache): its key misses whatever
   * the content, so nothing is gained by waiting for it. A cold build's COPY of a big context then
   * copies while the context is hashed, not after (W1 cold: ~0.5 s of checksum first). A result
   * this build records is not looked for: two steps of one key in one build would both run.
   */
  private async missesForCertain(job: Job<R>): Promise<boolean> {
    if (this.beforeKey.has(job.digest)) return true;
    if (this.results.has(job.digest) || !(await this.certainMiss(job)) || this.results.has(job.digest))
      return false;
    this.beforeKey.add(job.digest);
    this.speculate(job);
    return true;
  }

  /** `job`'s key misses whatever its content key says (see missesForCertain). */
  private async certainMiss(job: Job<R>): Promise<boolean> {
    if (!this.cache || !job.contentKey || job.noCache || this.isTainted(job)) return false;
    // --no-cache: it runs whatever its key, too.
    return job.ignoreCache === true || (await this.emptyCache);
  }

  /** Record `result` under `key`, and the cheap key's link to it. */
  private async record(job: Job<R>, key: string, result: R): Promise<void> {
    if (!this.cache || job.noCache) return;
    await this.cache.put(key, result);
    const cheap = this.cheapKeys.get(job.digest);
    if (cheap) await this.cache.putLink?.(cheap, key);
  }

  /**
   * A job that misses for certain (missesForCertain), run while its key is made; the key is
   * awaited before it is reported done and recorded. A failure of either is the job's, reported
   * once, after the other has ended (the key reads what the run reads).
   */
  private async solveBeforeKey(job: Job<R>): Promise<Solved<R>> {
    const keyed = this.effectiveKey(job);
    keyed.catch(() => {}); // awaited below, or ended before a failure of the run is thrown
    let result: R;
    let inputs: R[];
    try {
      this.checkAborted();
      inputs = await Promise.all(job.inputs.map(async (i) => (await this.solve(i)).result));
      // Reported done once its key is made, below.
      result = await this.runJob(job, inputs, undefined, false);
    } catch (err) {
      await keyed.catch(() => {});
      throw err;
    }
    const key = await keyed;
    this.explain(job, await this.missReason(job, key, inputs));
    this.emit(job, 'done');
    await this.record(job, key, result);
    return { result, key, cached: false };
  }

  /** A content key reads the job's sources (e.g. COPY's files): its failure is this job's. */
  private async failsJob<T>(job: Job<R>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (job.location) withLocation(err, job.location);
      this.emit(job, this.signal.aborted ? 'canceled' : 'error', err);
      throw err;
    }
  }

  private isTainted(job: Job<R>): boolean {
    let t = this.tainted.get(job.digest);
    if (t === undefined) {
      t = job.contentInputs !== undefined || job.inputs.some((i) => this.isTainted(i));
      this.tainted.set(job.digest, t);
    }
    return t;
  }

  /**
   * A job that neither has content inputs nor builds on one is stored under its cheap key. One
   * that does is stored under the key made of its inputs' effective keys (for content inputs,
   * the checksum of what it reads of them), found without solving anything through the link
   * its cheap key has to it when the cache still holds that result. A link whose result is gone
   * is not trusted: the inputs are solved and read again, so a result is only ever stored
   * under the content it was made from.
   */
  private async computeKey(job: Job<R>): Promise<string> {
    const cheap = await this.cheapKey(job);
    if (!this.isTainted(job)) return cheap;
    const cache = this.cache && !job.noCache && !job.ignoreCache ? this.cache : undefined;
    const linked = cache?.getLink ? await cache.getLink(cheap) : undefined;
    if (cache && linked) {
      const hit = await cache.get(linked);
      if (hit !== undefined) {
        this.prefetched.set(job.digest, hit);
        this.known.set(job.digest, linked);
        return linked;
      }
    }
    const ci = job.contentInputs;
    // Its content inputs are solved now, to be read. Its other inputs would be solved right after
    // the key unless that key then hits: start them beside, so a stage's own steps (a runtime
    // stage's apt-get) run while the stage it copies from builds, as they would without content
    // keys, instead of after it (W3 cold: 13 s of wall time). A hit by content with such an input
    // uncached (its result pruned, the copy's kept) is the one case where this runs a step for
    // nothing; its failure then surfaces only in the progress, not as the build's.
    if (ci) for (const [i, input] of job.inputs.entries()) if (!ci.indexes.includes(i)) this.speculate(input);
    if (ci?.indexes.length === 1) this.runAhead(job, ci.indexes[0]);
    const parts = await Promise.all(
      job.inputs.map(async (input, i) => {
        if (!ci?.indexes.includes(i)) return this.effectiveKey(input);
        const { result } = await this.solve(input);
        return `content:${await this.failsJob(job, () => ci.checksum(i, result, this.signal))}`;
      }),
    );
    const key = await this.keyOf(job, parts);
    this.keyParts.set(job.digest, parts);
    this.cheapKeys.set(job.digest, cheap);
    this.known.set(job.digest, key);
    // Before the cache: a run ahead under this very key ran in this build (recorded once taken).
    const ahead = this.aheads.get(job.digest);
    if (ahead) {
      if (ahead.key === key) {
        const result = await ahead.result;
        if (result !== undefined) {
          this.prefetched.set(job.digest, result);
          this.taken.set(job.digest, ahead);
          return key;
        }
      } else ahead.drop();
    }
    if (cache) {
      const hit = await cache.get(key);
      if (hit !== undefined) {
        this.prefetched.set(job.digest, hit);
        await cache.putLink?.(cheap, key);
      }
    }
    return key;
  }

  /**
   * While content input `i` of `job` runs (a RUN, the last step of the stage a COPY --from reads),
   * run `job` on that input's preview (the state the RUN started from), under the key made of
   * what it read there. When the RUN is done and `job`'s key, made of what it reads of the RUN's
   * result, is that same key, the run ahead is taken (computeKey) and recorded: the checksum says
   * the two read the same, the premise of every content hit, and a COPY of what the RUN left alone
   * (W2's 5,000 files while `sleep 1` runs) is done by then. A run ahead whose key is not known
   * while the input still runs, or differs, is dropped, canceled, or not taken: it ran for
   * nothing, on time the RUN left, and is not recorded.
   */
  private runAhead(job: Job<R>, i: number): void {
    const input = job.inputs[i];
    const ci = job.contentInputs;
    if (!ci || !input.preview || this.aheads.has(job.digest)) return;
    const stop = new AbortController();
    const signal = AbortSignal.any([this.signal, stop.signal]);
    const run: AheadRun<R> = {
      input: input.name,
      dropped: false,
      drop: () => {
        run.dropped = true;
        stop.abort();
      },
      events: [],
      result: Promise.resolve(undefined),
    };
    this.aheads.set(job.digest, run);
    let inputDone = false;
    const solved = this.solve(input).then(
      () => undefined,
      () => undefined,
    );
    void solved.then(() => {
      inputDone = true;
    });
    run.result = (async () => {
      const early = await Promise.race([input.preview?.(), solved]);
      if (early === undefined || inputDone) return undefined;
      const parts = await Promise.all(
        job.inputs.map(async (other, j) =>
          // The build's signal, not the run's: a checksum is shared with whoever asks the same of
          // the same state (runners.ts), and dropping this run must not cancel theirs.
          j === i ? `content:${await ci.checksum(i, early, this.signal)}` : this.effectiveKey(other),
        ),
      );
      const key = await this.keyOf(job, parts);
      if (inputDone || run.dropped) return undefined;
      const cache = this.cache && !job.noCache ? this.cache : undefined;
      // Recorded already: the job's own key, if the same, hits it.
      if (
        cache &&
        !job.ignoreCache &&
        (cache.has ? await cache.has(key) : (await cache.get(key)) !== undefined)
      )
        return undefined;
      if (run.dropped) return undefined;
      run.key = key;
      const inputs = await Promise.all(
        job.inputs.map(async (other, j) => (j === i ? early : (await this.solve(other)).result)),
      );
      return this.limit.use(() => {
        if (run.dropped) return Promise.resolve(undefined);
        return job.run(inputs, { progress: (e) => run.events.push(e), signal, id: job.digest });
      });
    })().catch(() => undefined);
  }

  /**
   * Once everything asked for is solved: cancel the runs ahead that were not taken (none will be)
   * and wait for every one to end, so that none is still writing when the build closes its stores.
   */
  async settled(): Promise<void> {
    for (const [digest, run] of this.aheads) if (!this.taken.has(digest)) run.drop();
    await Promise.all([...this.aheads.values()].map((run) => run.result));
    // A step run before its key goes on when something else failed the build: it ends first.
    await Promise.all(this.early);
  }

  /** Solve `job` ahead of a caller that will await it through solve() (see computeKey). */
  private speculate(job: Job<R>): void {
    this.solve(job).catch(() => {
      // Reported by solve's own events; whoever needs the result awaits the same promise.
    });
  }

  private async solveOnce(job: Job<R>): Promise<Solved<R>> {
    if (this.beforeKey.has(job.digest) || (await this.certainMiss(job))) {
      this.beforeKey.add(job.digest);
      const run = this.solveBeforeKey(job);
      // Ended before the build closes its stores, whatever fails first (settled).
      this.early.push(run.catch(() => undefined));
      return run;
    }
    this.checkAborted();
    const key = await this.effectiveKey(job);
    const found = this.prefetched.get(job.digest);
    const ahead = this.taken.get(job.digest);
    if (found !== undefined && !ahead) {
      this.prefetched.delete(job.digest);
      await this.emitCached(job);
      return { result: found, key, cached: true };
    }
    // A job on content inputs was looked up while its key was made.
    if (this.cache && !job.noCache && !job.ignoreCache && !this.isTainted(job)) {
      const hit = await this.cache.get(key);
      if (hit !== undefined) {
        await this.emitCached(job);
        return { result: hit, key, cached: true };
      }
    }
    const inputs = await Promise.all(job.inputs.map(async (i) => (await this.solve(i)).result));
    const why = await this.missReason(job, key, inputs);
    if (ahead && found !== undefined) {
      // Run in this build, ahead of its input's end: shown as the step's run.
      this.prefetched.delete(job.digest);
      this.emit(job, 'started');
      // One line: a display shows a step's last explanation.
      const ran = `made while ${ahead.input} ran, which left what this step reads of it as it was`;
      this.explain(job, why ? `${why}; ${ran}` : ran);
      for (const e of ahead.events) this.progress(e);
      this.emit(job, 'done');
      // Recorded now, not when it ran: a run never taken is no record (nor exported with the
      // travelling cache); its snapshot, held by the build meanwhile, is prune's.
      await this.record(job, key, found);
      return { result: found, key, cached: false };
    }
    const result = await this.runJob(job, inputs, why, true);
    await this.record(job, key, result);
    return { result, key, cached: false };
  }

  /**
   * Run `job` within the parallelism bound: reported started (with `why` it ran, when known) and,
   * when `reportDone`, done; a failure is reported as the job's (failsJob).
   */
  private runJob(job: Job<R>, inputs: R[], why: string | undefined, reportDone: boolean): Promise<R> {
    return this.limit.use(async () => {
      this.checkAborted();
      this.emit(job, 'started');
      this.explain(job, why);
      const r = await this.failsJob(job, () =>
        job.run(inputs, { progress: this.progress, signal: this.signal, id: job.digest }),
      );
      if (reportDone) this.emit(job, 'done');
      return r;
    });
  }

  /** Why a job that will run missed the cache, when an Explainer is asked. */
  private async missReason(job: Job<R>, key: string, inputs: R[]): Promise<string | undefined> {
    if (!this.explainer || !this.cache || job.noCache) return undefined;
    const inputKeys =
      this.keyParts.get(job.digest) ?? (await Promise.all(job.inputs.map((i) => this.effectiveKey(i))));
    return this.explainer.miss(job, key, inputKeys, inputs);
  }

  /**
   * A hit stands for the steps that led to it too: report each of them cached, once (as BuildKit
   * does), unless it already ran in this build (a context source read for a content key).
   */
  private async emitCached(job: Job<R>): Promise<void> {
    const found: Job<R>[] = [];
    const stack = [job];
    while (stack.length) {
      const j = stack.pop() as Job<R>;
      if (this.reported.has(j.digest)) continue;
      this.reported.add(j.digest);
      found.push(j);
      stack.push(...j.inputs);
    }
    // Bottom-up, so the log reads in build order.
    // A hit's explanation comes first: displays show it with the step's CACHED line.
    found.reverse();
    // A step on content inputs this hit stands for was never keyed past its cheap key: its
    // result is known by the key its link leads to.
    const keys = this.explainer
      ? await Promise.all(
          found.map(async (j) => {
            const key = this.known.get(j.digest);
            if (!key || j.noCache || !this.isTainted(j) || this.keys.has(j.digest)) return key;
            return (await this.cache?.getLink?.(key)) ?? key;
          }),
        )
      : [];
    for (const [i, j] of found.entries()) {
      const key = keys[i];
      if (this.explainer && key && !j.noCache) this.explain(j, this.explainer.hit(j, key));
      this.emit(j, 'cached');
    }
  }

  private emit(
    job: Job<R>,
    status: 'started' | 'cached' | 'done' | 'error' | 'canceled',
    err?: unknown,
  ): void {
    if (status === 'started') this.reported.add(job.digest);
    if (status === 'error' || status === 'canceled') {
      if (this.failed.has(job.digest)) return;
      this.failed.add(job.digest);
    }
    if (job.hidden && status !== 'error') return;
    const inputs = job.inputs.filter((i) => !i.hidden).map((i) => i.digest);
    this.progress({
      type: 'vertex',
      id: job.digest,
      name: job.name,
      status,
      at: Date.now(),
      ...(inputs.length ? { inputs } : {}),
      // The display has shown the step's output already: its error need not repeat it.
      error: err === undefined ? undefined : errorText(err),
      location: job.location,
    });
  }

  private explain(job: Job<R>, text: string | undefined): void {
    if (text !== undefined && !job.hidden)
      this.progress({ type: 'explain', id: job.digest, text, at: Date.now() });
  }

  private checkAborted(): void {
    if (this.signal.aborted) throw new KilnError('CANCELED', 'build canceled');
  }
}
