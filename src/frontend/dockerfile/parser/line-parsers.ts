/**
 * Per-instruction argument parsers (BuildKit parser/line_parsers.go and split_command.go): they
 * turn the text after the keyword into argument nodes without unquoting or expanding anything,
 * except that JSON arrays are decoded and `--flags` have their quotes removed.
 */
import { isGoSpace, trimGoSpace, trimLeftGoSpace } from '../shell/quote.ts';
import { type Node, newNode } from './ast.ts';

/** An argument-level parse error (the parser adds the location). */
export class LineParseError extends Error {}

export const ERR_NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

const RE_WHITESPACE = /[\t\v\f\r ]+/;

export interface ParsedArgs {
  next: Node[];
  json: boolean;
  /** ONBUILD: the nested instruction. */
  sub?: Node;
}

const none = (): ParsedArgs => ({ next: [], json: false });
const values = (vs: string[], json = false): ParsedArgs => ({ next: vs.map((v) => newNode(v)), json });

/**
 * Split into words on whitespace, keeping quotes and escapes in the words
 * (`foo bar 'abc xyz'` → `foo`, `bar`, `'abc xyz'`).
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let word = '';
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? '' : chars[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // an escape at the very end is dropped
        // An unquoted escape keeps itself and the next character, even a quote.
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // in quote
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

/** ENV / LABEL: `k=v ...` triples (key, raw value, '=') or legacy `KEY value` (key, rest, ''). */
export function parseNameVal(rest: string, key: string, escapeToken: string): Node[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const m = RE_WHITESPACE.exec(rest);
    if (!m) throw new LineParseError(`${key} must have two arguments`);
    return [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''].map((v) => newNode(v));
  }
  const out: Node[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new LineParseError(
        `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`,
      );
    }
    out.push(newNode(word.slice(0, eq)), newNode(word.slice(eq + 1)), newNode('='));
  }
  return out;
}

/**
 * Decode an exec-form JSON array of strings. Returns undefined when `rest` is not valid JSON array
 * text (the caller falls back to shell form); throws when it is an array with non-strings.
 */
export function parseJSON(rest: string): string[] | undefined {
  const text = trimLeftGoSpace(rest);
  if (!text.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  // Go's decoder fails (→ shell form) on numbers that overflow float64, before the string check.
  if (parsed.some((v) => typeof v === 'number' && !Number.isFinite(v))) return undefined;
  if (!parsed.every((v) => typeof v === 'string')) throw new LineParseError(ERR_NOT_STRING_ARRAY);
  return parsed as string[];
}

function parseMaybeJSON(rest: string): ParsedArgs {
  if (rest === '') return none();
  const json = parseJSON(rest);
  if (json) return values(json, true);
  return values([rest]);
}

function parseStringsWhitespaceDelimited(rest: string): ParsedArgs {
  if (rest === '') return none();
  return values(rest.split(RE_WHITESPACE));
}

function parseMaybeJSONToList(rest: string): ParsedArgs {
  const json = parseJSON(rest);
  if (json) return values(json, true);
  return parseStringsWhitespaceDelimited(rest);
}

function parseString(rest: string): ParsedArgs {
  return rest === '' ? none() : values([rest]);
}

function parseNameOrNameVal(rest: string, escapeToken: string): ParsedArgs {
  return values(parseWords(rest, escapeToken));
}

function parseHealthConfig(rest: string): ParsedArgs {
  let sep = 0;
  while (sep < rest.length && !isGoSpace(rest[sep]!)) sep++;
  let next = sep;
  while (next < rest.length && isGoSpace(rest[next]!)) next++;
  if (sep === 0) return none();
  const cmd = parseMaybeJSON(rest.slice(next));
  return { next: [newNode(rest.slice(0, sep)), ...cmd.next], json: cmd.json };
}

type LineParser = (rest: string, escapeToken: string) => ParsedArgs;

/** Which argument parser each instruction uses; unknown instructions get one empty argument. */
export const DISPATCH: Readonly<Record<string, LineParser>> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: (rest, esc) => ({ next: parseNameVal(rest, 'ENV', esc), json: false }),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: (rest, esc) => ({ next: parseNameVal(rest, 'LABEL', esc), json: false }),
  maintainer: parseString,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** Split a line into keyword (case kept), `--flags` (quotes removed) and the trimmed rest. */
export function splitCommand(line: string): { cmd: string; flags: string[]; args: string } {
  const trimmed = trimGoSpace(line);
  const m = RE_WHITESPACE.exec(trimmed);
  if (!m) return { cmd: trimmed, flags: [], args: '' };
  const [args, flags] = extractBuilderFlags(trimmed.slice(m.index + m[0].length));
  return { cmd: trimmed.slice(0, m.index), flags, args: trimGoSpace(args) };
}

/** Leading `--name[=value]` words; `--` ends them and is dropped. */
export function extractBuilderFlags(line: string): [string, string[]] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? '' : line[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') {
        return [line.slice(pos), words];
      }
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return [line.slice(pos), words];
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = line[pos]!;
    }
    word += ch;
  }
  return ['', words];
}
