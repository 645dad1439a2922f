/**
 * Progress events: what a build reports while it runs. The solver, the workers and the build
 * facade emit them; the CLI renders them (BuildKit's plain, tty and rawjson shapes, or these
 * events as JSON); library users subscribe to them.
 */
import type { SourceLocation } from '../errors/errors.ts';

export type VertexStatus = 'started' | 'cached' | 'done' | 'error' | 'canceled';

/** A step of the build (BuildKit's vertex): a Dockerfile instruction or an internal step. */
export interface VertexEvent {
  type: 'vertex';
  /** Vertex digest: stable across runs for the same work. */
  id: string;
  name: string;
  status: VertexStatus;
  /** Milliseconds since the epoch. */
  at: number;
  /** The ids of the shown vertices this one depends on. */
  inputs?: string[];
  error?: string;
  location?: SourceLocation;
}

/** Output of a running step, as the process wrote it (partial lines included). */
export interface LogEvent {
  type: 'log';
  id: string;
  stream: 'stdout' | 'stderr';
  data: string;
  at: number;
}

/**
 * Sub-progress (BuildKit's vertex status): bytes of a pull or push, or a named task of a step
 * such as `exporting layers`. Displays show only statuses that name their `vertex`.
 */
export interface StatusEvent {
  type: 'status';
  /** Identity of the task, shown by BuildKit's displays (e.g. `exporting layers`, a blob digest). */
  id: string;
  /** The vertex the task belongs to. */
  vertex?: string;
  name: string;
  current: number;
  total?: number;
  /** When the task started (ms since the epoch); displays take the first event's time without it. */
  started?: number;
  done?: boolean;
  at: number;
}

/** A Dockerfile warning (a BuildKit lint rule), reported once the Dockerfile is converted. */
export interface WarningEvent {
  type: 'warning';
  /** Rule name, e.g. `UndefinedVar`. */
  rule?: string;
  message: string;
  /** The rule's documentation. */
  url?: string;
  /** The vertex it is shown under (the build definition's). */
  vertex?: string;
  location?: SourceLocation;
  /** The file the location points into, for consumers of BuildKit's raw progress. */
  source?: { filename: string; data: string; language?: string };
  at: number;
}

/**
 * Why a step missed the cache (`cache miss: 2 files changed: …`), or with `--explain` which
 * earlier build a hit came from: one line the displays show under the step.
 */
export interface ExplainEvent {
  type: 'explain';
  /** The vertex it belongs to. */
  id: string;
  text: string;
  at: number;
}

export type ProgressEvent = VertexEvent | LogEvent | StatusEvent | WarningEvent | ExplainEvent;

export type ProgressSink = (event: ProgressEvent) => void;

/** A sink that drops everything, for callers that do not care. */
export const discardProgress: ProgressSink = () => {};

/**
 * What a display says for a failed step: the error's message without the output tail an exec
 * failure appends to it (`outputTail`), which the display has already shown as the step's log.
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const tail = (err as { outputTail?: unknown }).outputTail;
  if (typeof tail === 'string' && tail && err.message.endsWith(`\n${tail}`))
    return err.message.slice(0, -tail.length - 1);
  return err.message;
}

/** BuildKit's one-line form of a lint warning: `Rule: message (line N)`. */
export function warningShort(w: Pick<WarningEvent, 'rule' | 'message' | 'location'>): string {
  const msg = w.rule ? `${w.rule}: ${w.message}` : w.message;
  return w.location && w.location.startLine > 0 ? `${msg} (line ${w.location.startLine})` : msg;
}
