/**
 * Heredoc detection (BuildKit parser.go ParseHeredoc / heredocsFromLine): a word `[fd]<<[-]WORD`
 * names a heredoc; quoting any part of WORD turns expansion off.
 */
import { ShellLex } from '../shell/lex.ts';
import type { Heredoc } from './ast.ts';

const RE_HEREDOC = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const EMPTY_ENV = { get: (): undefined => undefined };

const countQuotes = (s: string) => {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
};

/**
 * Parse one word as a heredoc marker. Returns undefined when it is not one; throws (KilnError
 * DOCKERFILE_EXPAND) on unbalanced quotes in the delimiter. `content` is left empty.
 */
export function parseHeredoc(word: string): Heredoc | undefined {
  const m = RE_HEREDOC.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  const lex = new ShellLex('\\', { skipUnsetEnv: true });
  const words = lex.processWords(rest, EMPTY_ENV);
  if (words.length !== 1) return undefined;
  lex.rawQuotes = true;
  const raw = lex.processWords(rest, EMPTY_ENV);
  if (raw.length !== 1) return undefined;
  const name = words[0]!;
  const fd = m[1] === '' ? 0 : Number.parseInt(m[1]!, 10);
  return {
    name,
    content: '',
    expand: countQuotes(name) === countQuotes(raw[0]!),
    chomp: m[2] === '-',
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
  };
}

/** All heredoc markers in an instruction line, in order. */
export function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLex('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lex.processWords(line, EMPTY_ENV);
  } catch {
    words = [];
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredoc(w);
    if (h) docs.push(h);
  }
  return docs;
}

/** Remove leading tabs from every line (`<<-`). */
export function chompHeredocContent(src: string): string {
  // Go's (?m)^ is after '\n' only (JS's m flag would also split at \r and U+2028).
  return src.replace(/(^|\n)\t+/g, '$1');
}
