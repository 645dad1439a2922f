/**
 * Shell patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` (BuildKit lex.go helpers): prefix and
 * suffix trimming (suffixes by matching reversed strings, as BuildKit does) and replacement with
 * Go's ReplaceAllString rules, matched by glob.ts; plus BuildKit's glob → regexp conversion,
 * kept as the reference the matcher is tested against.
 */
import { type Budget, findMatch, matchPrefix, parseGlob } from './glob.ts';

/** A lexer error; lex.ts turns it into a KilnError (DOCKERFILE_EXPAND unless `code` says) with the word. */
export class ShellError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** The longest expanded word (UTF-16 units): BuildKit has no cap; `ARG A=$A$A` ×40 ran V8 out of memory. */
export const MAX_WORD_LENGTH = 1 << 20;

export function wordTooLong(): ShellError {
  return new ShellError(
    `the expansion is longer than ${MAX_WORD_LENGTH} characters`,
    'DOCKERFILE_WORD_TOO_LONG',
  );
}

/** Go's ReplaceAllString template: `$0`/`${0}` = the match, `$$` = '$', other `$name` = '' (no groups). */
function expandTemplate(replacement: string, match: string): string {
  return replacement.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (m, braced, bare) => {
    if (m === '$$') return '$';
    const name = (braced ?? bare) as string;
    return /^[0-9]+$/.test(name) && Number(name) === 0 ? match : '';
  });
}

/**
 * `${VAR/pattern/replacement}` (`all`: `//`): the first (leftmost, longest) match replaced
 * literally, or every match with Go's ReplaceAllString (template expansion; an empty match right
 * after a match is not replaced; the search always advances by at least one character).
 */
export function replacePattern(
  pattern: string,
  value: string,
  replacement: string,
  all: boolean,
  budget: Budget,
): string {
  const tokens = parseGlob(pattern);
  const v = Array.from(value);
  if (!all) {
    const m = findMatch(tokens, v, 0, budget);
    if (!m) return value;
    const out = v.slice(0, m[0]).join('') + replacement + v.slice(m[1]).join('');
    if (out.length > MAX_WORD_LENGTH) throw wordTooLong();
    return out;
  }
  let out = '';
  let searchPos = 0;
  let lastMatchEnd = 0;
  while (searchPos <= v.length) {
    const m = findMatch(tokens, v, searchPos, budget);
    if (!m) break;
    out += v.slice(lastMatchEnd, m[0]).join('');
    if (m[1] > lastMatchEnd || m[0] === 0) out += expandTemplate(replacement, v.slice(m[0], m[1]).join(''));
    if (out.length > MAX_WORD_LENGTH) throw wordTooLong();
    lastMatchEnd = m[1];
    searchPos = Math.max(searchPos + 1, m[1]);
  }
  out += v.slice(lastMatchEnd).join('');
  if (out.length > MAX_WORD_LENGTH) throw wordTooLong();
  return out;
}

/**
 * Shell glob (`*`, `?`, `\x`) → Go regexp source, as BuildKit's convertShellPatternToRegex:
 * anchored with `^` when asked, `*` greedy (`.*`) or lazy (`.*?`). Throws on a bad escape.
 */
export function convertShellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean): string {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '.*' : '.*?';
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i]!;
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '.';
        continue;
      case '\\': {
        const peek = chars[i + 1];
        // `}` and `/` are escaped only to get them into ${}; the escape is not part of the pattern.
        if (peek === '}' || peek === '/') continue;
        out += '\\';
        i++;
        tok = chars[i] ?? '';
        if (tok !== '*' && tok !== '?' && tok !== '\\') {
          throw new ShellError(`invalid escape '\\${tok === '' ? '\ufffd' : tok}'`);
        }
        break;
      }
      case '[':
      case ']':
      case '{':
      case '}':
      case '.':
      case '+':
      case '(':
      case ')':
      case '|':
      case '^':
      case '$':
        out += '\\';
        break;
    }
    out += tok;
  }
  return out;
}

/** `${VAR#pattern}` (`greedy`: `##`): the value without its shortest (longest) matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean, budget: Budget): string {
  const v = Array.from(value);
  const end = matchPrefix(parseGlob(pattern), v, greedy, budget);
  return end < 0 ? value : v.slice(end).join('');
}

/** Reverse a pattern by code point, keeping `\x` escape pairs in order (a\*c → c\*a). */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i]!;
    const outIdx = last - i;
    if (tok === '\\' && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = runes[i + 1]!;
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join('');
}

/** Reverse by code point. */
export function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

export function trimSuffix(pattern: string, value: string, greedy: boolean, budget: Budget): string {
  // Matches are found from the left, so match the reversed pattern against the reversed value.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy, budget));
}
