/**
 * Progress renderers by mode, as `docker buildx build --progress` names them: `plain` (numbered
 * blocks for CI logs), `tty` (a live view), `rawjson` (BuildKit's SolveStatus per line), `quiet`;
 * `auto` picks tty for a terminal. `kiln-json` writes kiln's own events, one per line.
 */
import type { Writable } from 'node:stream';
import type { LineOptions } from './lines.ts';
import { plainRenderer, type Renderer } from './plain.ts';
import { SolveStatusEncoder } from './rawjson.ts';
import { ttyRenderer } from './tty.ts';

export type { Renderer } from './plain.ts';

export const PROGRESS_MODES = ['auto', 'plain', 'tty', 'rawjson', 'kiln-json', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export interface RenderOptions extends LineOptions {
  /** Expand warnings in the end-of-build summary (kiln --debug). */
  debug?: boolean;
}

export function createRenderer(
  mode: ProgressMode,
  out: Writable & { isTTY?: boolean; columns?: number; rows?: number },
  opts: RenderOptions = {},
): Renderer {
  const m = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  if (m === 'rawjson') {
    const enc = new SolveStatusEncoder();
    return {
      sink: (e) => {
        const s = enc.encode(e);
        if (s) out.write(`${JSON.stringify(s)}\n`);
      },
      close() {},
    };
  }
  if (m === 'kiln-json') return { sink: (e) => out.write(`${JSON.stringify(e)}\n`), close() {} };
  if (m === 'quiet') return { sink: () => {}, close() {} };
  if (m === 'tty') return ttyRenderer(out, opts);
  return plainRenderer(out, opts);
}
