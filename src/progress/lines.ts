/**
 * Step output as lines. A process's writes split lines anywhere (`npm WARN` and ` using --force`
 * arrive apart), so output is gathered per step and stream into whole lines, as BuildKit's
 * displays do; a partial line is released after a pause in its stream or when the step ends.
 */

export type Stream = 'stdout' | 'stderr';

export interface Line {
  vertex: string;
  stream: Stream;
  text: string;
  /** When the line's first byte arrived (ms since the epoch). */
  at: number;
}

export interface LineOptions {
  /** Quiet time after which a partial line is shown as it is (default 1000 ms). */
  pauseMs?: number;
  /** Longer lines are cut into pieces this long, so a line never grows without bound. */
  maxLine?: number;
}

interface Open {
  vertex: string;
  stream: Stream;
  text: string;
  at: number;
  /** The last chunk ended in `\r`: a `\n` next makes it CRLF, anything else restarts the line. */
  cr: boolean;
  /** The line's start was released after a pause: a bare `\n` now only ends it. */
  released: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Assembles lines per (vertex, stream). `\n` and `\r\n` end a line; a lone `\r` restarts it, so
 * a progress meter redrawn in place shows its last state, as a terminal would.
 */
export class LineAssembler {
  private readonly open = new Map<string, Open>();
  private readonly onLine: (line: Line) => void;
  private readonly pauseMs: number;
  private readonly maxLine: number;

  constructor(onLine: (line: Line) => void, opts: LineOptions = {}) {
    this.onLine = onLine;
    this.pauseMs = opts.pauseMs ?? 1000;
    this.maxLine = opts.maxLine ?? 32 * 1024;
  }

  push(vertex: string, stream: Stream, data: string, at: number): void {
    const key = `${vertex}\0${stream}`;
    let o = this.open.get(key);
    if (!o) {
      o = { vertex, stream, text: '', at, cr: false, released: false };
      this.open.set(key, o);
    }
    let i = 0;
    while (i < data.length) {
      const j = nextBreak(data, i);
      if (j < 0) {
        this.append(o, data.slice(i), at);
        break;
      }
      this.append(o, data.slice(i, j), at);
      if (data[j] === '\n') {
        this.endLine(o);
        i = j + 1;
      } else if (j + 1 === data.length) {
        o.cr = true;
        i = j + 1;
      } else if (data[j + 1] === '\n') {
        this.endLine(o);
        i = j + 2;
      } else {
        o.text = '';
        i = j + 1;
      }
    }
    if (o.timer) clearTimeout(o.timer);
    o.timer = undefined;
    if (o.text !== '') {
      const open = o;
      o.timer = setTimeout(() => this.release(open), this.pauseMs);
      o.timer.unref?.();
    }
  }

  /** The step ended: show what is left of its lines. */
  end(vertex: string): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${vertex}\0${stream}`;
      const o = this.open.get(key);
      if (!o) continue;
      if (o.timer) clearTimeout(o.timer);
      if (o.text !== '') this.emit(o, o.text);
      this.open.delete(key);
    }
  }

  /** Show every partial line and stop all timers. */
  close(): void {
    for (const o of [...this.open.values()]) this.end(o.vertex);
  }

  private append(o: Open, s: string, at: number): void {
    if (s === '') return;
    if (o.cr) {
      // A lone carriage return before this chunk: the line starts over.
      o.text = '';
      o.cr = false;
    }
    if (o.text === '') o.at = at;
    o.text += s;
    while (o.text.length > this.maxLine) {
      this.emit(o, o.text.slice(0, this.maxLine));
      o.text = o.text.slice(this.maxLine);
      o.at = at;
    }
  }

  private endLine(o: Open): void {
    // A line whose start was already shown after a pause: its newline adds no empty line.
    if (o.text !== '' || !o.released) this.emit(o, o.text);
    o.text = '';
    o.cr = false;
    o.released = false;
  }

  private release(o: Open): void {
    o.timer = undefined;
    if (o.text === '') return;
    this.emit(o, o.text);
    o.text = '';
    o.cr = false;
    o.released = true;
  }

  private emit(o: Open, text: string): void {
    this.onLine({ vertex: o.vertex, stream: o.stream, text, at: o.at });
  }
}

function nextBreak(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
