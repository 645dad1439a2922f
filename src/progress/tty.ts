/**
 * The tty display, BuildKit's `--progress=tty`: a view redrawn in place with one line per step
 * (`=> [2/3] RUN …  1.2s`), its statuses (`=> => exporting layers`), warnings, and the last output
 * lines of running steps (`=> => # …`); at the end the whole list, then the summaries.
 */
import type { Writable } from 'node:stream';
import type { Renderer } from './plain.ts';
import { errorSummary, formatBytes, Trace, type VertexView, warningSummary } from './trace.ts';

/** Output lines shown under a running step. */
const SHOWN_LINES = 6;

export interface TtyOptions {
  debug?: boolean;
  pauseMs?: number;
}

export function ttyRenderer(
  out: Writable & { columns?: number; rows?: number },
  opts: TtyOptions = {},
): Renderer {
  const recent = new Map<VertexView, string[]>();
  const t0 = Date.now();
  let drawn = 0;
  const trace = new Trace(
    {
      started() {},
      completed() {},
      status() {},
      warning() {},
      line(v, rest) {
        let lines = recent.get(v);
        if (!lines) {
          lines = [];
          recent.set(v, lines);
        }
        lines.push(rest.slice(rest.indexOf(' ') + 1));
        if (lines.length > SHOWN_LINES) lines.shift();
      },
    },
    { pauseMs: opts.pauseMs },
  );

  const draw = (final: boolean) => {
    const now = Date.now();
    const width = Math.max(40, out.columns ?? 80);
    const height = Math.max(4, out.rows ?? 24);
    const steps = trace.order;
    const done = steps.filter((v) => v.completed !== undefined).length;
    const header = `[+] Building ${((now - t0) / 1000).toFixed(1)}s (${done}/${steps.length})${
      final && done === steps.length ? ' FINISHED' : ''
    }`;
    let rows: string[] = [];
    for (const v of steps) {
      if (v.started === undefined) continue;
      const mark = v.error !== undefined ? 'ERROR ' : v.canceled ? 'CANCELED ' : v.cached ? 'CACHED ' : '';
      rows.push(row(` => ${mark}${v.name}`, (v.completed ?? now) - v.started, width));
      for (const s of v.statuses.values()) {
        const bytes = s.total
          ? `${formatBytes(s.current)} / ${formatBytes(s.total)}`
          : s.current
            ? formatBytes(s.current)
            : '';
        rows.push(row(` => => ${s.id}${bytes ? ` ${bytes}` : ''}`, (s.completed ?? now) - s.started, width));
      }
      if (v.explain) rows.push(row(` => => ${v.explain}`, undefined, width));
      for (const w of v.warnings) rows.push(row(` => WARN: ${w}`, undefined, width));
      if (v.completed === undefined)
        for (const l of recent.get(v) ?? []) rows.push(clip(` => => # ${l}`, width));
    }
    // While running, the newest lines that fit; at the end, everything.
    if (!final && rows.length > height - 2) rows = rows.slice(rows.length - (height - 2));
    const lines = [header.padEnd(width - 1), ...rows];
    out.write(`${drawn ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
    drawn = lines.length;
  };

  const timer = setInterval(() => draw(false), 150);
  timer.unref();
  return {
    sink: (e) => trace.apply(e),
    close() {
      clearInterval(timer);
      trace.close();
      draw(true);
      out.write(errorSummary(trace.order));
      out.write(warningSummary(trace.warnings, opts.debug ?? false));
    },
  };
}

/** ` => name` on the left, the time right-aligned, the whole line `width - 1` wide. */
function row(text: string, ms: number | undefined, width: number): string {
  const left = visible(text);
  const time = ms === undefined ? '' : ` ${(ms < 50 ? 0 : ms / 1000).toFixed(1).padStart(3)}s`;
  const room = width - 1 - time.length;
  const name = left.length > room ? left.slice(0, room) : left.padEnd(room);
  return `${name}${time}`;
}

function clip(text: string, width: number): string {
  const s = visible(text);
  return s.length > width - 1 ? s.slice(0, width - 1) : s;
}

/**
 * Step names and output come from the build: control characters (an escape sequence would move
 * the cursor under the redraw, or worse) are shown as `?`, tabs as spaces.
 */
function visible(s: string): string {
  return s.replace(/\t/g, ' ').replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}
