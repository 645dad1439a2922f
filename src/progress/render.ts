/**
 * Progress renderers: `plain` prints BuildKit-style numbered lines (for CI logs), `tty` redraws a
 * live view of steps with timings and the last output lines of running steps, `rawjson` writes
 * one event per line. `auto` picks tty when the stream is a terminal.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent, ProgressSink } from './events.ts';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'rawjson' | 'quiet';

export interface Renderer {
  sink: ProgressSink;
  /** Flush and stop redrawing. */
  close(): void;
}

interface Step {
  n: number;
  name: string;
  status: string;
  start?: number;
  end?: number;
  lines: string[];
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(1);
}

export function createRenderer(
  mode: ProgressMode,
  out: Writable & { isTTY?: boolean; columns?: number },
): Renderer {
  const m = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  if (m === 'rawjson') return { sink: (e) => out.write(`${JSON.stringify(e)}\n`), close() {} };
  if (m === 'quiet') return { sink: () => {}, close() {} };
  if (m === 'tty') return ttyRenderer(out);
  return plainRenderer(out);
}

function stepTable() {
  const steps = new Map<string, Step>();
  return (e: ProgressEvent & { id: string }, name: string): Step => {
    let s = steps.get(e.id);
    if (!s) {
      s = { n: steps.size + 1, name, status: 'waiting', lines: [] };
      steps.set(e.id, s);
    }
    return s;
  };
}

function plainRenderer(out: Writable): Renderer {
  const step = stepTable();
  const sink: ProgressSink = (e) => {
    if (e.type === 'warning') {
      const where = e.location ? ` (${e.location.file}:${e.location.startLine})` : '';
      out.write(`WARNING: ${e.message}${where}\n`);
      return;
    }
    const s = step(e, e.type === 'vertex' || e.type === 'status' ? e.name : '');
    if (e.type === 'vertex') {
      if (e.status === 'started') {
        s.start = e.at;
        out.write(`#${s.n} ${s.name}\n`);
      } else if (e.status === 'cached') out.write(`#${s.n} ${s.name}\n#${s.n} CACHED\n`);
      else if (e.status === 'done') out.write(`#${s.n} DONE ${secs(e.at - (s.start ?? e.at))}s\n`);
      else if (e.status === 'error') {
        // A step can fail before it starts (e.g. a COPY source is missing): name it first.
        if (s.start === undefined) out.write(`#${s.n} ${s.name}\n`);
        out.write(`#${s.n} ERROR: ${e.error ?? 'failed'}\n`);
      } else out.write(`#${s.n} CANCELED\n`);
    } else if (e.type === 'log') {
      const t = secs(e.at - (s.start ?? e.at)).padStart(5);
      for (const line of e.data.replace(/\n$/, '').split('\n')) out.write(`#${s.n} ${t} ${line}\n`);
    } else if (e.type === 'status' && e.done) {
      out.write(`#${s.n} ${e.name} ${e.total ?? e.current} bytes done\n`);
    }
  };
  return { sink, close() {} };
}

function ttyRenderer(out: Writable & { columns?: number }): Renderer {
  const step = stepTable();
  const order: Step[] = [];
  const warnings: string[] = [];
  let drawn = 0;
  const t0 = Date.now();
  const width = () => Math.max(40, (out.columns ?? 100) - 1);
  const fit = (s: string) => (s.length > width() ? `${s.slice(0, width() - 1)}…` : s);
  const draw = (final = false) => {
    const now = Date.now();
    const lines = [
      `[+] Building ${secs(now - t0)}s (${order.filter((s) => s.end).length}/${order.length})${final ? ' FINISHED' : ''}`,
    ];
    for (const s of order) {
      const time = s.status === 'cached' ? 'CACHED' : s.start ? `${secs((s.end ?? now) - s.start)}s` : '';
      const mark = s.status === 'error' ? ' ERROR' : '';
      lines.push(fit(` => ${s.name}${mark}`.padEnd(width() - 8) + time.padStart(8)));
      if (s.status === 'running' || s.status === 'error')
        for (const l of s.lines.slice(-6)) lines.push(fit(` => => ${l}`));
    }
    for (const w of warnings) lines.push(fit(`WARNING: ${w}`));
    out.write(`${drawn ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const timer = setInterval(() => draw(), 150);
  timer.unref();
  const sink: ProgressSink = (e) => {
    if (e.type === 'warning') {
      warnings.push(e.message);
      return;
    }
    const s = step(e, e.type === 'vertex' || e.type === 'status' ? e.name : '');
    if (!order.includes(s) && e.type === 'vertex') order.push(s);
    if (e.type === 'vertex') {
      if (e.status === 'started') {
        s.status = 'running';
        s.start = e.at;
      } else {
        s.status = e.status;
        s.end = e.at;
      }
    } else if (e.type === 'log') {
      s.lines.push(...e.data.replace(/\n$/, '').split('\n'));
      if (s.lines.length > 50) s.lines.splice(0, s.lines.length - 50);
    }
  };
  return {
    sink,
    close() {
      clearInterval(timer);
      draw(true);
    },
  };
}
