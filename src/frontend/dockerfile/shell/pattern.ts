/**
 * Shell patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` (BuildKit lex.go helpers): glob →
 * regexp conversion, prefix/suffix trimming (suffixes by matching reversed strings, as BuildKit
 * does) and Go's ReplaceAllString replacement rules.
 */

/** A lexer error; lex.ts turns it into a KilnError with the word. */
export class ShellError extends Error {}

/** Go regexp.ReplaceAllString: `$0`/`${0}` = the match, `$$` = '$', other `$name` = '' (no groups). */
export function replaceAllLiteral(value: string, re: RegExp, replacement: string): string {
  const expand = (match: string) =>
    replacement.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (m, braced, bare) => {
      if (m === '$$') return '$';
      const name = (braced ?? bare) as string;
      return /^[0-9]+$/.test(name) && Number(name) === 0 ? match : '';
    });
  let out = '';
  let last = 0;
  let lastMatchEnd = -1;
  for (const m of value.matchAll(re)) {
    const start = m.index ?? 0;
    // Go skips an empty match right after a previous match.
    if (m[0].length === 0 && start === lastMatchEnd) continue;
    out += value.slice(last, start) + expand(m[0]);
    last = start + m[0].length;
    lastMatchEnd = last;
  }
  return out + value.slice(last);
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

export function compilePattern(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  let src: string;
  try {
    src = convertShellPatternToRegex(pattern, greedy, anchored);
  } catch (err) {
    throw new ShellError(`invalid pattern (${pattern}) in substitution: ${(err as Error).message}`);
  }
  // Go's `.` matches any rune but '\n', like JS with the u flag.
  return new RegExp(src, 'u');
}

export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = compilePattern(pattern, greedy, true);
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
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

export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // Regexps find leftmost matches, so match the reversed pattern against the reversed value.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}
