/**
 * What BuildKit's displays know of a build, shared by the plain and tty renderers: the steps in
 * the order they appeared with their times, statuses, assembled output lines and warnings, and
 * the two summaries printed at the end (the failed steps' last lines, the warnings).
 */
import type { ProgressEvent, StatusEvent, WarningEvent } from './events.ts';
import { warningShort } from './events.ts';
import { type Line, LineAssembler, type LineOptions } from './lines.ts';

/** Lines of a failed step BuildKit repeats in its error summary. */
const TAIL_LINES = 10;

export interface StatusView {
  id: string;
  current: number;
  total?: number;
  started: number;
  at: number;
  completed?: number;
}

export interface VertexView {
  id: string;
  name: string;
  /** The display's `#N` (0 until the step is first printed). */
  index: number;
  started?: number;
  completed?: number;
  cached: boolean;
  canceled: boolean;
  error?: string;
  statuses: Map<string, StatusView>;
  /** The last output lines, `<seconds> <text>` as BuildKit keeps them. */
  tail: string[];
  warnings: string[];
  /** Why it missed the cache, or where a hit came from (`cache miss: …`). */
  explain?: string;
}

/** Hooks the renderers implement; each is called after the trace has been updated. */
export interface TraceListener {
  started(v: VertexView): void;
  completed(v: VertexView): void;
  status(v: VertexView, s: StatusView): void;
  /** `rest` is the line after the `#N ` prefix: `0.123 text`. */
  line(v: VertexView, rest: string): void;
  warning(v: VertexView | undefined, short: string): void;
  /** An explanation of the step's cache outcome (`v.explain`). */
  explain?(v: VertexView): void;
}

export class Trace {
  readonly order: VertexView[] = [];
  readonly warnings: WarningEvent[] = [];
  private readonly byId = new Map<string, VertexView>();
  /** Explanations that came before their step (a cache hit's), by vertex id. */
  private readonly early = new Map<string, string>();
  private readonly lines: LineAssembler;
  private readonly listener: TraceListener;

  constructor(listener: TraceListener, opts: LineOptions = {}) {
    this.listener = listener;
    this.lines = new LineAssembler((l) => this.onLine(l), opts);
  }

  apply(e: ProgressEvent): void {
    if (e.type === 'warning') {
      this.warnings.push(e);
      const v = e.vertex ? this.byId.get(e.vertex) : undefined;
      const short = warningShort(e);
      v?.warnings.push(short);
      this.listener.warning(v, short);
      return;
    }
    if (e.type === 'log') {
      if (this.byId.has(e.id)) this.lines.push(e.id, e.stream, e.data, e.at);
      return;
    }
    if (e.type === 'status') {
      this.status(e);
      return;
    }
    if (e.type === 'explain') {
      const v = this.byId.get(e.id);
      if (!v) {
        if (this.early.size < 10_000) this.early.set(e.id, e.text);
        return;
      }
      v.explain = e.text;
      this.listener.explain?.(v);
      return;
    }
    const v = this.vertex(e.id, e.name);
    if (e.status === 'started') {
      v.started = e.at;
      this.listener.started(v);
      return;
    }
    // A step's last output belongs before its result.
    this.lines.end(v.id);
    v.completed = e.at;
    if (e.status === 'cached') {
      v.cached = true;
      v.started ??= e.at;
    } else if (e.status === 'canceled') v.canceled = true;
    else if (e.status === 'error') v.error = e.error ?? 'failed';
    this.listener.completed(v);
  }

  /** Show what is left of partial lines (the display is closing). */
  close(): void {
    this.lines.close();
  }

  private vertex(id: string, name: string): VertexView {
    let v = this.byId.get(id);
    if (!v) {
      v = { id, name, index: 0, cached: false, canceled: false, statuses: new Map(), tail: [], warnings: [] };
      const early = this.early.get(id);
      if (early !== undefined) {
        v.explain = early;
        this.early.delete(id);
      }
      this.byId.set(id, v);
      this.order.push(v);
    }
    return v;
  }

  private status(e: StatusEvent): void {
    const v = e.vertex ? this.byId.get(e.vertex) : undefined;
    if (!v) return; // byte counts of work outside any step (a layer exported ahead) are not shown
    let s = v.statuses.get(e.id);
    if (!s) {
      s = { id: e.id, current: e.current, total: e.total, started: e.started ?? e.at, at: e.at };
      v.statuses.set(e.id, s);
    }
    s.current = e.current;
    s.total = e.total;
    s.at = e.at;
    if (e.done) s.completed = e.at;
    this.listener.status(v, s);
  }

  private onLine(l: Line): void {
    const v = this.byId.get(l.vertex);
    if (!v) return;
    const rest = `${logTime(l.at - (v.started ?? l.at))} ${l.text}`;
    v.tail.push(rest);
    if (v.tail.length > TAIL_LINES) v.tail.shift();
    this.listener.line(v, rest);
  }
}

/** A log line's time since its step started, with BuildKit's precision (`0.123`, `12.34`, `123.4`). */
export function logTime(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return s.toFixed(s < 10 ? 3 : s < 100 ? 2 : 1);
}

/** Seconds with one decimal, as in `DONE 0.1s`. */
export function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1);
}

/** Byte counts as BuildKit prints them (decimal units: `435B`, `2.32kB`, `52.33MB`). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2)}${units[i]}`;
}

/** A status line after `#N `: `exporting layers 0.3s done`, `sha256:… 1.20MB / 2.10MB`. */
export function statusText(s: StatusView): string {
  let bytes = '';
  if (s.total) bytes = ` ${formatBytes(s.current)} / ${formatBytes(s.total)}`;
  else if (s.current) bytes = ` ${formatBytes(s.current)}`;
  const diff = (s.completed ?? s.at) - s.started;
  let tm = diff > 10 ? ` ${seconds(diff)}s` : '';
  if (s.completed !== undefined) tm += ' done';
  return `${s.id}${bytes}${tm}`;
}

/** BuildKit's error summary: each failed step's name and last output lines between rules. */
export function errorSummary(order: readonly VertexView[]): string {
  let out = '';
  for (const v of order) {
    if (v.error === undefined || v.canceled) continue;
    out += `------\n > ${v.name}:\n`;
    for (const l of v.tail) out += `${l}\n`;
    out += '------\n';
  }
  return out;
}

/**
 * buildx's warning summary after the build; `debug` expands each warning with its
 * documentation link and the Dockerfile lines it points at.
 */
export function warningSummary(warnings: readonly WarningEvent[], debug: boolean): string {
  if (warnings.length === 0) return '';
  const n = warnings.length;
  let out = `\n ${n === 1 ? '1 warning found' : `${n} warnings found`}`;
  out += debug ? ':\n' : ' (use kiln --debug to expand):\n';
  for (const w of warnings) {
    out += ` - ${warningShort(w)}\n`;
    if (!debug) continue;
    if (w.url) out += `More info: ${w.url}\n`;
    if (w.location && w.source) out += sourceExcerpt(w.source, w.location.startLine, w.location.endLine);
    out += '\n';
  }
  return out;
}

/** The lines a location points at, in BuildKit's `>>>` source form. */
function sourceExcerpt(source: { filename: string; data: string }, start: number, end: number): string {
  const lines = source.data.split('\n');
  const from = Math.max(1, start - 2);
  const to = Math.min(lines.length, end + 2);
  let out = `${source.filename}:${start}\n--------------------\n`;
  for (let n = from; n <= to; n++) {
    const mark = n >= start && n <= end ? '>>>' : '   ';
    out += ` ${String(n).padStart(3)} | ${mark} ${lines[n - 1]}\n`;
  }
  return `${out}--------------------\n`;
}
