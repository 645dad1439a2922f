/**
 * The plain display, BuildKit's `--progress=plain`: numbered blocks per step (`#5 [2/3] RUN …`,
 * its statuses, `#5 0.123 output`, `#5 DONE 0.4s`). Steps running at once do not interleave line
 * by line: one block is open at a time, a finished step is shown first, and a step kept waiting
 * is shown after a while (BuildKit's textMux), the interrupted one marked `#N ...`.
 */
import type { Writable } from 'node:stream';
import type { ProgressSink } from './events.ts';
import type { LineOptions } from './lines.ts';
import {
  errorSummary,
  type StatusView,
  seconds,
  statusText,
  Trace,
  type VertexView,
  warningSummary,
} from './trace.ts';

/** How long a step with output waits behind the open block before it is shown. */
const MAX_WAIT_MS = 5000;
/** Output a waiting step may hold before it is shown anyway (a flood is not kept in memory). */
const MAX_HELD_CHARS = 1 << 20;
/** BuildKit prints an unfinished byte count again only after this much progress or time. */
const STATUS_DELTA = 0.05;
const STATUS_INTERVAL_MS = 5000;

export interface Renderer {
  sink: ProgressSink;
  /** Flush, print the end-of-build summaries, and stop redrawing. */
  close(): void;
}

export interface PlainOptions extends LineOptions {
  /** Expand warnings in the summary (kiln --debug). */
  debug?: boolean;
}

type Item = { status: string } | { text: string };

interface Block {
  items: Item[];
  /** Characters of text in `items`. */
  held: number;
  /** Started but its header not printed yet. */
  unshown: boolean;
  /** When it began waiting behind another block. */
  waiting?: number;
  /** Its result line is queued. */
  finished: boolean;
}

export function plainRenderer(out: Writable, opts: PlainOptions = {}): Renderer {
  const blocks = new Map<VertexView, Block>();
  const printedStatus = new Map<string, { current: number; at: number }>();
  let current: VertexView | undefined;
  let currentSince = 0;
  let printedAny = false;
  let nextIndex = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const block = (v: VertexView): Block => {
    let b = blocks.get(v);
    if (!b) {
      b = { items: [], held: 0, unshown: false, finished: false };
      blocks.set(v, b);
    }
    return b;
  };
  const write = (s: string) => out.write(s);

  const open = (v: VertexView) => {
    if (current === v) return;
    if (current) write(`#${current.index} ...\n`);
    if (printedAny) write('\n');
    printedAny = true;
    if (v.index === 0) v.index = ++nextIndex;
    write(`#${v.index} ${v.name}\n`);
    current = v;
    currentSince = Date.now();
  };

  const flush = (v: VertexView) => {
    const b = block(v);
    open(v);
    b.unshown = false;
    b.waiting = undefined;
    for (const item of b.items) {
      if ('text' in item) write(`#${v.index} ${item.text}\n`);
      else {
        const s = v.statuses.get(item.status) as StatusView;
        if (shouldPrint(s)) write(`#${v.index} ${statusText(s)}\n`);
      }
    }
    b.items = [];
    b.held = 0;
    if (b.finished) {
      blocks.delete(v);
      current = undefined;
    }
  };

  const shouldPrint = (s: StatusView) => {
    const key = `${s.id}`;
    const last = printedStatus.get(key);
    if (last && s.completed === undefined) {
      const delta = s.total ? (s.current - last.current) / s.total : 0;
      if (delta < STATUS_DELTA && s.at - last.at < STATUS_INTERVAL_MS) return false;
    }
    printedStatus.set(key, { current: s.current, at: s.at });
    return true;
  };

  const pending = (b: Block) => b.items.length > 0 || b.unshown;

  const pump = () => {
    // Finished steps first, in the order they finished.
    for (const [v, b] of blocks) if (b.finished) flush(v);
    if (current && pending(block(current))) flush(current);
    const now = Date.now();
    let next: VertexView | undefined;
    let nextSince = Number.POSITIVE_INFINITY;
    for (const [v, b] of blocks) {
      if (v === current || !pending(b)) continue;
      b.waiting ??= now;
      if (b.held > MAX_HELD_CHARS) {
        flush(v);
        pump();
        return;
      }
      if (b.waiting < nextSince) {
        next = v;
        nextSince = b.waiting;
      }
    }
    if (!next) return;
    if (!current || (now - nextSince >= MAX_WAIT_MS && now - currentSince >= MAX_WAIT_MS)) {
      flush(next);
      pump();
      return;
    }
    // Something waits behind the open block: look again when its wait is over.
    if (!timer) {
      timer = setTimeout(
        () => {
          timer = undefined;
          pump();
        },
        Math.max(MAX_WAIT_MS - (now - nextSince), MAX_WAIT_MS - (now - currentSince), 10),
      );
      timer.unref?.();
    }
  };

  const trace = new Trace(
    {
      started(v) {
        block(v).unshown = true;
        pump();
      },
      completed(v) {
        const b = block(v);
        b.finished = true;
        if (v.error !== undefined) b.items.push({ text: `ERROR: ${v.error}` });
        else if (v.canceled) b.items.push({ text: 'CANCELED' });
        else if (v.cached) {
          // A hit's explanation (kiln build --explain) came before the step: it goes above CACHED.
          if (v.explain !== undefined) b.items.push({ text: v.explain });
          b.items.push({ text: 'CACHED' });
        } else
          b.items.push({ text: `DONE ${seconds((v.completed ?? 0) - (v.started ?? v.completed ?? 0))}s` });
        pump();
      },
      status(v, s) {
        const b = block(v);
        if (!b.items.some((i) => 'status' in i && i.status === s.id)) b.items.push({ status: s.id });
        pump();
      },
      line(v, rest) {
        const b = block(v);
        b.items.push({ text: rest });
        b.held += rest.length;
        pump();
      },
      explain(v) {
        // One line under the step's header: `#5 cache miss: 2 files changed: …`.
        block(v).items.push({ text: v.explain ?? '' });
        pump();
      },
      warning(v, short) {
        if (!v) return;
        block(v).items.push({ text: `WARN: ${short}` });
        pump();
      },
    },
    opts,
  );

  return {
    sink: (e) => trace.apply(e),
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      trace.close();
      for (const [v, b] of blocks) if (b.finished || b.items.length > 0) flush(v);
      write(errorSummary(trace.order));
      write(warningSummary(trace.warnings, opts.debug ?? false));
    },
  };
}
