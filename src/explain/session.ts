/**
 * One build as history keeps it: a tap on its progress events gathers each step's times (when it
 * could have started, started, finished), tasks (exporting, pushing) and cache outcome with its
 * explanation, and at the end the record goes into history.db (`kiln history`, `kiln report`).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { ProgressSink } from '../progress/events.ts';
import { BuildExplainer, type ListFiles, type StepNote } from './explainer.ts';

/** Steps kept per build record (a huge graph keeps its first ones). */
const MAX_STEPS = 1000;
/** Characters of an error or explanation kept. */
const MAX_TEXT = 2000;
/** Characters of a step's explanation kept in history. */
const MAX_REASON = 500;

export interface TaskView {
  name: string;
  started: number;
  completed?: number;
}

export interface StepView {
  /** The vertex digest. */
  id: string;
  name: string;
  inputs?: string[];
  started?: number;
  completed?: number;
  cached: boolean;
  error?: string;
  /** Why it missed the cache. */
  reason?: string;
  /** For a hit: the build that made it. */
  origin?: { build: string; at: number };
  tasks?: TaskView[];
}

export interface BuildRecord {
  id: string;
  started: number;
  finished?: number;
  context: string;
  dockerfile: string;
  target?: string;
  platforms: string[];
  tags: string[];
  result: 'ok' | 'error' | 'canceled' | 'running';
  error?: string;
  /** The exported image: its root descriptor digest and media type, and the image ID. */
  image?: { digest: string; mediaType: string; id?: string };
  steps: StepView[];
  /** Steps served from the cache and steps that looked it up and ran. */
  hits: number;
  misses: number;
}

export interface SessionOptions {
  root: string;
  context: string;
  dockerfile?: string;
  target?: string;
  platforms: string[];
  tags: string[];
  buildArgs: Record<string, string>;
  noCache: boolean;
  explain?: boolean;
  buildId?: string;
}

/**
 * A fresh build id: 24 hex digits from the time, the process and a random number. Ids name
 * history entries, they guard nothing; a hash kiln has loaded anyway is cheaper on a warm build
 * than the first draw from the system's random source (~0.5 ms).
 */
export function newBuildId(): string {
  return createHash('sha256')
    .update(`${process.pid}\0${process.hrtime.bigint()}\0${Date.now()}\0${Math.random()}`)
    .digest('hex')
    .slice(0, 24);
}

const clip = (s: string | undefined) => (s && s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

export class BuildSession {
  readonly record: BuildRecord;
  private readonly opts: SessionOptions;
  private readonly steps = new Map<string, StepView>();
  private explainer?: BuildExplainer;
  /** discard() was called: finish() writes nothing. */
  private discarded = false;

  constructor(opts: SessionOptions) {
    this.opts = opts;
    const context = opts.context === '-' ? '-' : resolve(opts.context);
    this.record = {
      id: opts.buildId && /^[0-9a-zA-Z]{1,64}$/.test(opts.buildId) ? opts.buildId : newBuildId(),
      started: Date.now(),
      context,
      dockerfile:
        opts.dockerfile === '-' || context === '-'
          ? (opts.dockerfile ?? 'Dockerfile')
          : resolve(opts.dockerfile ?? `${context}/Dockerfile`),
      target: opts.target,
      platforms: opts.platforms,
      tags: opts.tags,
      result: 'running',
      steps: [],
      hits: 0,
      misses: 0,
    };
  }

  /** A sink that records what passes and forwards it. */
  tap(next: ProgressSink): ProgressSink {
    return (e) => {
      if (e.type === 'vertex') {
        let s = this.steps.get(e.id);
        if (!s && this.steps.size < MAX_STEPS) {
          s = { id: e.id, name: e.name, cached: false };
          this.steps.set(e.id, s);
        }
        if (s) {
          if (e.inputs?.length) s.inputs = e.inputs;
          if (e.status === 'started') s.started = e.at;
          else {
            s.completed = e.at;
            if (e.status === 'cached') s.cached = true;
            if (e.status === 'error' || e.status === 'canceled') s.error = clip(e.error ?? e.status);
          }
        }
      } else if (e.type === 'status' && e.vertex) {
        const s = this.steps.get(e.vertex);
        if (s) {
          s.tasks ??= [];
          let t = s.tasks.find((x) => x.name === e.id);
          if (!t && s.tasks.length < 50) {
            t = { name: e.id, started: e.started ?? e.at };
            s.tasks.push(t);
          }
          if (t && e.done) t.completed = e.at;
        }
      }
      next(e);
    };
  }

  /** The solver's explainer for this build (one per build). */
  explainerFor(listFiles: ListFiles): BuildExplainer {
    this.explainer ??= new BuildExplainer({
      root: this.opts.root,
      buildId: this.record.id,
      dockerfile: this.record.dockerfile,
      buildArgs: this.opts.buildArgs,
      noCache: this.opts.noCache,
      showHits: this.opts.explain ?? false,
      listFiles,
    });
    return this.explainer;
  }

  /** Each explained step, by vertex digest. */
  notes(): Map<string, StepNote> {
    return this.explainer?.notes ?? new Map();
  }

  succeeded(image?: { digest: string; mediaType: string; id?: string }): void {
    this.record.result = 'ok';
    this.record.image = image;
  }

  failed(err: unknown, canceled: boolean): void {
    this.record.result = canceled ? 'canceled' : 'error';
    this.record.error = clip(err instanceof Error ? err.message : String(err));
  }

  /** This build leaves no history (it runs again: pipeline/build.ts outsideNamespace). */
  discard(): void {
    this.discarded = true;
  }

  /** Store the step records and this build in history (never fails the build). */
  finish(): void {
    if (this.discarded) {
      this.explainer?.discard();
      return;
    }
    const r = this.record;
    r.finished = Date.now();
    if (r.result === 'running') r.result = 'error';
    const notes = this.notes();
    r.steps = [...this.steps.values()];
    for (const s of r.steps) {
      const n = notes.get(s.id);
      if (n?.reason) s.reason = n.reason.length > MAX_REASON ? `${n.reason.slice(0, MAX_REASON)}…` : n.reason;
      if (n?.origin) s.origin = n.origin;
    }
    for (const n of notes.values()) {
      if (n.cached) r.hits++;
      else r.misses++;
    }
    try {
      if (this.explainer) this.explainer.finish({ at: r.started, value: r });
      else new BuildExplainer({ ...this.explainerOpts() }).finish({ at: r.started, value: r });
    } catch {
      // History is a record of the build, not part of it: a locked or full database loses it.
    }
  }

  private explainerOpts() {
    return {
      root: this.opts.root,
      buildId: this.record.id,
      dockerfile: this.record.dockerfile,
      buildArgs: this.opts.buildArgs,
      noCache: this.opts.noCache,
      showHits: false,
      listFiles: async () => undefined,
    };
  }
}
