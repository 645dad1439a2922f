/**
 * BuildKit's shell-word lexer (frontend/dockerfile/shell/lex.go): quote and escape handling,
 * `$VAR` / `${VAR<op>word}` expansion and word splitting, reporting which variables were read.
 * The converter uses it to expand instruction words; the parser uses it to find heredocs.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is shell syntax, not a template
import { KilnError } from '../../../errors/errors.ts';
import type { Budget } from './glob.ts';
import {
  MAX_WORD_LENGTH,
  replacePattern,
  ShellError,
  trimPrefix,
  trimSuffix,
  wordTooLong,
} from './pattern.ts';
import { goQuote, isGoSpace } from './quote.ts';

export { convertShellPatternToRegex, MAX_WORD_LENGTH, reversePattern, reverseString } from './pattern.ts';

/** Where variable values come from. `undefined` = unset (distinct from ''). */
export interface EnvGetter {
  get(key: string): string | undefined;
}

/** Accepted environment shapes: a getter, a Map, a plain object, or a `KEY=VALUE` list. */
export type EnvSource =
  | EnvGetter
  | ReadonlyMap<string, string>
  | Readonly<Record<string, string>>
  | readonly string[];

export interface ProcessWordResult {
  /** The expanded word (quotes removed, escapes processed). */
  result: string;
  /** The expansion split into words (quoted whitespace kept). */
  words: string[];
  /** Variables that were looked up and set. */
  matched: Set<string>;
  /** Variables that were looked up and unset. */
  unmatched: Set<string>;
}

export interface ShellLexOptions {
  /** Keep quote characters in the output. */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-d}`). */
  skipUnsetEnv?: boolean;
}

const EOF = -1;

/** `KEY=VALUE` list → map; a later duplicate wins, `KEY` alone means ''. (BuildKit BuildEnvs.) */
export function envFromList(list: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf('=');
    if (i < 0) m.set(e, '');
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

function toGetter(env: EnvSource): EnvGetter {
  if (Array.isArray(env)) return toGetter(envFromList(env as readonly string[]));
  if (env instanceof Map) return { get: (k) => env.get(k) };
  if (typeof (env as EnvGetter).get === 'function') return env as EnvGetter;
  const rec = env as Readonly<Record<string, string>>;
  return { get: (k) => (Object.hasOwn(rec, k) ? rec[k] : undefined) };
}

class Scanner {
  private readonly chars: string[];
  private pos = 0;
  constructor(src: string) {
    this.chars = Array.from(src);
  }
  peek(): string | typeof EOF {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  next(): string | typeof EOF {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }
}

class Words {
  word = '';
  words: string[] = [];
  inWord = false;
  addChar(ch: string): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

const isLetter = (ch: string) => /^\p{L}$/u.test(ch);
const isDigit = (ch: string) => /^\p{Nd}$/u.test(ch);
const isSpecialParam = (ch: string) => '@*#?-$!0'.includes(ch);

/** Shell-word lexer bound to an escape token (`\` or backtick) and options. Not reentrant-shared: cheap to create. */
export class ShellLex {
  readonly escapeToken: string;
  rawQuotes: boolean;
  rawEscapes: boolean;
  skipProcessQuotes: boolean;
  skipUnsetEnv: boolean;

  constructor(escapeToken = '\\', options: ShellLexOptions = {}) {
    this.escapeToken = escapeToken;
    this.rawQuotes = options.rawQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
  }

  /** Expand `word`; throws KilnError DOCKERFILE_EXPAND on bad syntax or `${V?msg}` failures. */
  processWord(word: string, env: EnvSource): string {
    return this.processWordWithMatches(word, env).result;
  }

  /** Expand and split into words. */
  processWords(word: string, env: EnvSource): string[] {
    return this.processWordWithMatches(word, env).words;
  }

  /** Expand, returning the result, the words, and which variables were read (set / unset). */
  processWordWithMatches(word: string, env: EnvSource): ProcessWordResult {
    const sw = new ShellWord(this, toGetter(env), word);
    try {
      const [result, words] = sw.processStopOn(EOF, this.rawEscapes);
      return { result, words, matched: sw.matches, unmatched: sw.nonmatches };
    } catch (err) {
      if (err instanceof ShellError && err.code === 'DOCKERFILE_WORD_TOO_LONG') {
        throw new KilnError(err.code, `failed to process ${goQuote(shorten(word))}: ${err.message}`, {
          hint: 'variables that expand into each other (ARG A=$A$A …) grow without bound; keep expanded words under 1 MiB',
        });
      }
      if (err instanceof ShellError) {
        throw new KilnError(
          'DOCKERFILE_EXPAND',
          `failed to process ${goQuote(shorten(word))}: ${err.message}`,
          {
            hint: 'check the ${...} syntax and quoting of this word',
          },
        );
      }
      throw err;
    }
  }
}

/** A word quoted in a message: its start and end when it is long. */
function shorten(word: string): string {
  return word.length <= 200 ? word : `${word.slice(0, 100)}…${word.slice(-100)}`;
}

/** Fail once a piece of the word being built is longer than any word may be. */
function capped(s: string): string {
  if (s.length > MAX_WORD_LENGTH) throw wordTooLong();
  return s;
}

class ShellWord {
  readonly matches = new Set<string>();
  readonly nonmatches = new Set<string>();
  /** Pattern-matching steps this word has spent (${V#p}, ${V%p}, ${V/p/r}). */
  private readonly budget: Budget = { used: 0 };
  private readonly scanner: Scanner;
  private rawEscapes: boolean;

  private readonly lex: ShellLex;
  private readonly env: EnvGetter;

  constructor(lex: ShellLex, env: EnvGetter, source: string) {
    this.lex = lex;
    this.env = env;
    this.scanner = new Scanner(source);
    this.rawEscapes = lex.rawEscapes;
  }

  processStopOn(stopChar: string | typeof EOF, rawEscapes: boolean): [string, string[]] {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      for (;;) {
        const ch = this.scanner.peek();
        if (ch === EOF) break;
        if (stopChar !== EOF && ch === stopChar) {
          this.scanner.next();
          return [result, words.getWords()];
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result = capped(result + tmp);
          words.addString(tmp);
          continue;
        }
        if (ch === '<') {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        if (!this.lex.skipProcessQuotes && (ch === "'" || ch === '"')) {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result = capped(result + tmp);
          words.addRawString(tmp);
          continue;
        }
        let c = this.scanner.next() as string;
        if (c === this.lex.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          const n = this.scanner.next();
          if (n === EOF) break;
          c = n;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
      if (stopChar !== EOF) {
        throw new ShellError(`unexpected end of statement while looking for matching ${stopChar}`);
      }
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    const open = this.scanner.next() as string;
    if (this.lex.rawQuotes) result += open;
    for (;;) {
      const ch = this.scanner.next();
      if (ch === EOF)
        throw new ShellError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.lex.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.scanner.next() as string;
    if (this.lex.rawQuotes) result += open;
    for (;;) {
      const p = this.scanner.peek();
      if (p === EOF)
        throw new ShellError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.scanner.next();
        if (this.lex.rawQuotes) result += p;
        return result;
      }
      if (p === '$') {
        result = capped(result + this.processDollar());
        continue;
      }
      let ch = this.scanner.next() as string;
      if (ch === this.lex.escapeToken) {
        if (this.rawEscapes) result += ch;
        const n = this.scanner.peek();
        if (n === EOF) continue; // a trailing escape is dropped
        if (n === '"' || n === '$' || n === this.lex.escapeToken) ch = this.scanner.next() as string;
      }
      result += ch;
    }
  }

  private processPossibleHeredoc(): string {
    this.scanner.next();
    if (this.scanner.peek() !== '<') return '<';
    this.scanner.next();
    // `<<  EOF` keeps its whitespace in the same word so the heredoc is still recognised. (`<<- EOF`
    // does not: BuildKit splits it into `<<-` and `EOF`, so it is no heredoc.)
    let space = '';
    for (let p = this.scanner.peek(); p === ' ' || p === '\t' || p === '\r'; p = this.scanner.peek()) {
      space += p;
      this.scanner.next();
    }
    return '<<' + space;
  }

  private getEnv(name: string): [string, boolean] {
    const v = this.env.get(name);
    if (v !== undefined) {
      this.matches.add(name);
      return [v, true];
    }
    this.nonmatches.add(name);
    return ['', false];
  }

  private processName(): string {
    let name = '';
    for (let ch = this.scanner.peek(); ch !== EOF; ch = this.scanner.peek()) {
      if (name.length === 0 && isDigit(ch)) {
        for (let d = this.scanner.peek(); d !== EOF && isDigit(d); d = this.scanner.peek()) {
          name += this.scanner.next();
        }
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return this.scanner.next() as string;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.scanner.next();
    }
    return name;
  }

  private processDollar(): string {
    this.scanner.next();
    if (this.scanner.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const [value, found] = this.getEnv(name);
      if (!found && this.lex.skipUnsetEnv) return '$' + name;
      return value;
    }
    this.scanner.next();
    const first = this.scanner.peek();
    if (first === EOF) throw new ShellError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':')
      throw new ShellError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.scanner.next();
    // Go's string(EOF) is U+FFFD.
    let chs = ch === EOF ? '\ufffd' : ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const [value, set] = this.getEnv(name);
      if (!set && this.lex.skipUnsetEnv) return '${' + name + '}';
      return value;
    }
    if (ch === '/') return this.processReplace(name);
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.scanner.next();
      chs += ch === EOF ? '\ufffd' : ch;
    } else if (ch === EOF || !'+-?#%'.includes(ch)) {
      throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    }
    const rawEscapes = ch === '#' || ch === '%';
    if (nullIsUnset && rawEscapes) throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      [word] = this.processStopOn('}', rawEscapes);
    } catch (err) {
      if (err instanceof ShellError && this.scanner.peek() === EOF)
        throw new ShellError("syntax error: missing '}'");
      throw err;
    }
    const [value, set] = this.getEnv(name);
    if (this.lex.skipUnsetEnv && !set) return '${' + name + chs + word + '}';
    switch (ch) {
      case '-':
        return !set || (nullIsUnset && value === '') ? word : value;
      case '+':
        return !set || (nullIsUnset && value === '') ? '' : word;
      case '?':
        if (!set) throw new ShellError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') {
          throw new ShellError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        }
        return value;
      case '%':
      case '#': {
        let greedy = false;
        if (word.length > 0 && word[0] === ch) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === '%'
          ? trimSuffix(word, value, greedy, this.budget)
          : trimPrefix(word, value, greedy, this.budget);
      }
      default:
        throw new ShellError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const replaceAll = this.scanner.peek() === '/';
    if (replaceAll) this.scanner.next();
    let pattern: string;
    try {
      [pattern] = this.processStopOn('/', true);
    } catch (err) {
      if (err instanceof ShellError && this.scanner.peek() === EOF) {
        throw new ShellError("syntax error: missing '/' in ${}");
      }
      throw err;
    }
    let replacement: string;
    try {
      [replacement] = this.processStopOn('}', true);
    } catch (err) {
      if (err instanceof ShellError && this.scanner.peek() === EOF)
        throw new ShellError("syntax error: missing '}'");
      throw err;
    }
    const [value, set] = this.getEnv(name);
    if (this.lex.skipUnsetEnv && !set) return '${' + name + '/' + pattern + '/' + replacement + '}';
    return replacePattern(pattern, value, replacement, replaceAll, this.budget);
  }
}
