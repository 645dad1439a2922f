/**
 * Go-compatible string helpers shared by the Dockerfile parser and lexer: `goQuote` matches Go's
 * strconv.Quote (used by BuildKit's AST dump and error messages) and `isGoSpace` matches
 * unicode.IsSpace.
 */

const ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
  '"': '\\"',
};

// Built on first use, and only for non-ASCII characters: V8 builds the Unicode property sets when
// the literal is first evaluated and matched (~8 ms, once per process), and most quoting (every
// JSON-form ENTRYPOINT or CMD in an image's history) is of ASCII, where every character from '!'
// to '~' is a letter, digit, punctuation or symbol.
let printable: RegExp | undefined;
const isPrintable = (ch: string, cp: number): boolean =>
  cp < 0x80 ? cp > 0x20 && cp < 0x7f : (printable ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u).test(ch);

/** Go `strconv.Quote`: printable runes kept, others as \xNN / \uNNNN / \UNNNNNNNN. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = ESCAPES[ch];
    if (esc !== undefined) {
      out += esc;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate stands for an invalid byte sequence; Go would print U+FFFD as-is.
      out += '\ufffd';
      continue;
    }
    if (cp === 0x20 || isPrintable(ch, cp)) {
      out += ch;
      continue;
    }
    out +=
      cp < 0x80
        ? '\\x' + cp.toString(16).padStart(2, '0')
        : cp < 0x10000
          ? '\\u' + cp.toString(16).padStart(4, '0')
          : '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** Go `unicode.IsSpace`. */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case '\u0085':
    case '\u00a0':
    case '\u1680':
    case '\u2028':
    case '\u2029':
    case '\u202f':
    case '\u205f':
    case '\u3000':
      return true;
    default: {
      const cp = ch.codePointAt(0) ?? 0;
      return cp >= 0x2000 && cp <= 0x200a;
    }
  }
}

/** Go `strings.TrimSpace` / `bytes.TrimLeftFunc(unicode.IsSpace)` equivalents. */
export function trimLeftGoSpace(s: string): string {
  let i = 0;
  while (i < s.length && isGoSpace(s[i]!)) i++;
  return s.slice(i);
}

export function trimRightGoSpace(s: string): string {
  let j = s.length;
  while (j > 0 && isGoSpace(s[j - 1]!)) j--;
  return s.slice(0, j);
}

export function trimGoSpace(s: string): string {
  return trimRightGoSpace(trimLeftGoSpace(s));
}
