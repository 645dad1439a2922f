/**
 * Go's `path/filepath.Match` (Unix flavour): `*`, `?`, `[...]` classes with `^` negation and
 * ranges, `\` escapes. Used for COPY wildcards and to validate .dockerignore patterns; a
 * malformed pattern throws PATTERN_SYNTAX ("syntax error in pattern", Go's ErrBadPattern).
 */
import { KilnError } from '../../errors/errors.ts';

export function badPattern(pattern: string): KilnError {
  return new KilnError('PATTERN_SYNTAX', `syntax error in pattern "${pattern}"`, {
    hint: 'check the [...] character classes and \\ escapes in the pattern (Go filepath.Match syntax)',
  });
}

/** True when `p` contains a character filepath.Match treats specially. */
export function hasWildcards(p: string): boolean {
  return /[*?[\\]/.test(p);
}

class BadPattern extends Error {}

/** Split into the leading stars and the next chunk (up to an unbracketed `*`). */
function scanChunk(
  pattern: string[],
  start: number,
): { star: boolean; chunkEnd: number; chunkStart: number } {
  let i = start;
  let star = false;
  while (i < pattern.length && pattern[i] === '*') {
    i++;
    star = true;
  }
  const chunkStart = i;
  let inrange = false;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 < pattern.length) i++;
    } else if (c === '[') inrange = true;
    else if (c === ']') inrange = false;
    else if (c === '*' && !inrange) break;
  }
  return { star, chunkStart, chunkEnd: i };
}

function getEsc(chunk: string[], i: number, end: number): { r: number; next: number } {
  if (i >= end || chunk[i] === '-' || chunk[i] === ']') throw new BadPattern();
  if (chunk[i] === '\\') {
    i++;
    if (i >= end) throw new BadPattern();
  }
  const r = chunk[i].codePointAt(0) as number;
  i++;
  if (i >= end) throw new BadPattern();
  return { r, next: i };
}

/** Match chunk[cs:ce] against the start of s[si:]; returns the rest index or -1. Validates the whole chunk. */
function matchChunk(chunk: string[], cs: number, ce: number, s: string[], si: number): number {
  let failed = false;
  let i = cs;
  while (i < ce) {
    if (!failed && si >= s.length) failed = true;
    const c = chunk[i];
    if (c === '[') {
      let r = -1;
      if (!failed) r = (s[si++] as string).codePointAt(0) as number;
      i++;
      let negated = false;
      if (i < ce && chunk[i] === '^') {
        negated = true;
        i++;
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (i < ce && chunk[i] === ']' && nrange > 0) {
          i++;
          break;
        }
        const lo = getEsc(chunk, i, ce);
        i = lo.next;
        let hi = lo.r;
        if (chunk[i] === '-') {
          const h = getEsc(chunk, i + 1, ce);
          hi = h.r;
          i = h.next;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === '?') {
      if (!failed) {
        if (s[si] === '/') failed = true;
        si++;
      }
      i++;
    } else {
      if (c === '\\') {
        i++;
        if (i >= ce) throw new BadPattern();
      }
      if (!failed) {
        if (chunk[i] !== s[si]) failed = true;
        si++;
      }
      i++;
    }
  }
  return failed ? -1 : si;
}

/** Go filepath.Match(pattern, name). Throws PATTERN_SYNTAX for a malformed pattern. */
export function goMatch(pattern: string, name: string): boolean {
  try {
    return matchInner(Array.from(pattern), Array.from(name));
  } catch (err) {
    if (err instanceof BadPattern) throw badPattern(pattern);
    throw err;
  }
}

function matchInner(pat: string[], name: string[]): boolean {
  let p = 0;
  let n = 0;
  outer: while (p < pat.length) {
    const { star, chunkStart, chunkEnd } = scanChunk(pat, p);
    p = chunkEnd;
    if (star && chunkStart === chunkEnd) {
      // Trailing * matches the rest unless it has a /.
      return !name.slice(n).includes('/');
    }
    const t = matchChunk(pat, chunkStart, chunkEnd, name, n);
    if (t >= 0 && (t === name.length || p < pat.length)) {
      n = t;
      continue;
    }
    if (star) {
      for (let i = n; i < name.length && name[i] !== '/'; i++) {
        const t2 = matchChunk(pat, chunkStart, chunkEnd, name, i + 1);
        if (t2 >= 0) {
          if (p >= pat.length && t2 < name.length) continue;
          n = t2;
          continue outer;
        }
      }
    }
    // Before failing, check the rest of the pattern is well-formed.
    while (p < pat.length) {
      const c = scanChunk(pat, p);
      p = c.chunkEnd;
      matchChunk(pat, c.chunkStart, c.chunkEnd, [], 0);
    }
    return false;
  }
  return n === name.length;
}
