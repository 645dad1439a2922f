/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`) as BuildKit's DirectiveParser reads
 * them: only at the top of the file, keys case-insensitive, each at most once; the first line that
 * is not a directive ends the block. Also `detectSyntax` (`#`, `//` and JSON forms, shebang skipped).
 */
import { trimLeftGoSpace } from '../shell/quote.ts';

export const DIRECTIVE_KEYS = ['syntax', 'escape', 'check'] as const;

export interface Directive {
  name: string;
  value: string;
  /** 1-based line of the directive. */
  line: number;
}

const DIRECTIVE_RE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/u;

/** Error text for a repeated directive; the caller adds the location. */
export class DirectiveError extends Error {}

export class DirectiveParser {
  private line: number;
  private readonly comment: string;
  private readonly seen = new Set<string>();
  private done = false;

  constructor(options: { comment?: string; startLine?: number } = {}) {
    this.comment = options.comment ?? '#';
    this.line = options.startLine ?? 0;
  }

  /** Feed one line (without its newline); returns a directive or undefined. Throws DirectiveError on a repeat. */
  parseLine(raw: string): Directive | undefined {
    this.line++;
    if (this.done) return undefined;
    if (!raw.startsWith(this.comment)) {
      this.done = true;
      return undefined;
    }
    const line = trimLeftGoSpace(raw.slice(this.comment.length));
    const m = DIRECTIVE_RE.exec(line);
    if (!m) {
      this.done = true;
      return undefined;
    }
    const k = m[1]!.toLowerCase();
    if (!(DIRECTIVE_KEYS as readonly string[]).includes(k)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(k)) throw new DirectiveError(`only one ${k} parser directive can be used`);
    this.seen.add(k);
    return { name: k, value: m[2]!, line: this.line };
  }

  /** All directives at the top of `text`. */
  parseAll(text: string): Directive[] {
    const out: Directive[] = [];
    for (const line of splitLinesNoEnding(text)) {
      if (this.done) break;
      const d = this.parseLine(line);
      if (d) out.push(d);
    }
    return out;
  }
}

/** bufio.ScanLines: lines without their `\n` (and a trailing `\r` dropped). */
function splitLinesNoEnding(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export interface DetectedDirective {
  /** The value up to the first space (e.g. the frontend image reference). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  /** 1-based line (0 for the JSON form without shebang). */
  line: number;
}

/** BuildKit DetectSyntax: `# syntax=`, then `// syntax=`, then a whole-file JSON `{"syntax": ...}`. */
export function detectSyntax(text: string): DetectedDirective | undefined {
  return parseDirectiveOf('syntax', text, true);
}

/** BuildKit ParseDirective(key): only the `#` form. */
export function parseDirective(key: string, text: string): DetectedDirective | undefined {
  return parseDirectiveOf(key, text, false);
}

function parseDirectiveOf(key: string, text: string, anyFormat: boolean): DetectedDirective | undefined {
  let dt = text.startsWith('\ufeff') ? text.slice(1) : text;
  let line = 0;
  const nl = dt.indexOf('\n');
  const first = nl < 0 ? dt : dt.slice(0, nl);
  if (first.startsWith('#!')) {
    dt = nl < 0 ? '' : dt.slice(nl + 1);
    line++;
  }
  const fromParser = (comment: string): DetectedDirective | undefined => {
    // Like BuildKit, a repeated directive stops the scan but keeps what was found before it.
    const parser = new DirectiveParser({ comment, startLine: line });
    const ds: Directive[] = [];
    try {
      for (const l of splitLinesNoEnding(dt)) {
        const d = parser.parseLine(l);
        if (d) ds.push(d);
      }
    } catch {
      // keep the directives found so far
    }
    const d = ds.find((x) => x.name === key);
    if (!d) return undefined;
    const sp = d.value.indexOf(' ');
    return { ref: sp < 0 ? d.value : d.value.slice(0, sp), cmdline: d.value, line: d.line };
  };
  const hash = fromParser('#');
  if (hash || !anyFormat) return hash;
  const slashes = fromParser('//');
  if (slashes) return slashes;
  try {
    const obj: unknown = JSON.parse(dt);
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (typeof v === 'string') return { ref: v, cmdline: v, line };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
