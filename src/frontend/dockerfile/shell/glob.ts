/**
 * Matching the shell patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` in linear time. BuildKit
 * compiles them to Go regexps, which never backtrack; the same regexps in JavaScript do, and
 * `${A/*a*a*a*b/x}` on 200 characters took 18 s. Here a pattern is a list of tokens run as an NFA
 * over the value's code points: O(value × pattern) steps, with a budget that fails the word
 * instead of hanging. The results equal Go's leftmost-first matches (see glob.test.ts).
 */
import { ShellError } from './pattern.ts';

/** A literal code point, any code point but a newline (`?`), or any run of them (`*`). */
export type GlobToken = string | typeof ANY | typeof STAR;
export const ANY = 0;
export const STAR = 1;

/**
 * Steps (value position × live pattern state) one word may spend matching: ~0.5 s at worst,
 * far beyond any real pattern (`${VERSION%.*}` takes a few hundred).
 */
export const MATCH_BUDGET = 1 << 26;

/** Counts the steps of the matches made for one word. */
export interface Budget {
  used: number;
}

/** Parse a pattern with BuildKit's escape rules (`\*`, `\?`, `\\`; `\}` and `\/` drop the `\`). */
export function parseGlob(pattern: string): GlobToken[] {
  const chars = Array.from(pattern);
  const out: GlobToken[] = [];
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') out.push(STAR);
    else if (tok === '?') out.push(ANY);
    else if (tok === '\\') {
      const peek = chars[i + 1];
      if (peek === '}' || peek === '/') continue;
      i++;
      const esc = chars[i] ?? '';
      if (esc !== '*' && esc !== '?' && esc !== '\\') {
        throw new ShellError(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${esc === '' ? '\ufffd' : esc}'`,
        );
      }
      out.push(esc);
    } else out.push(tok);
  }
  return out;
}

function spend(budget: Budget, steps: number): void {
  budget.used += steps;
  if (budget.used > MATCH_BUDGET) {
    throw new ShellError(
      `pattern matching needs more than ${MATCH_BUDGET} steps (value and pattern too long)`,
    );
  }
}

/**
 * A thread set: for each pattern state (0…tokens.length), the earliest start position of a
 * thread in it, or -1. Stars are closed over (a thread in a star state may also skip it).
 */
class States {
  readonly start: Int32Array;
  readonly live: number[] = [];
  constructor(size: number) {
    this.start = new Int32Array(size).fill(-1);
  }
  add(tokens: GlobToken[], state: number, start: number): void {
    for (let s = state; ; s++) {
      const cur = this.start[s]!;
      if (cur !== -1 && cur <= start) return;
      if (cur === -1) this.live.push(s);
      this.start[s] = start;
      if (tokens[s] !== STAR) return;
    }
  }
  clear(): void {
    for (const s of this.live) this.start[s] = -1;
    this.live.length = 0;
  }
}

/** Advance every thread over code point `c` into `next`. */
function step(tokens: GlobToken[], cur: States, next: States, c: string): void {
  for (const s of cur.live) {
    const start = cur.start[s]!;
    const t = tokens[s];
    if (t === undefined) continue; // the final state consumes nothing
    if (t === STAR) {
      if (c !== '\n') next.add(tokens, s, start);
    } else if (t === ANY ? c !== '\n' : t === c) next.add(tokens, s + 1, start);
  }
}

/**
 * The end (in code points) of the shortest or longest prefix of `value` the pattern matches, or
 * -1. (Go's leftmost-first match of the anchored regexp with lazy or greedy stars.)
 */
export function matchPrefix(tokens: GlobToken[], value: string[], longest: boolean, budget: Budget): number {
  let cur = new States(tokens.length + 1);
  let next = new States(tokens.length + 1);
  cur.add(tokens, 0, 0);
  let end = -1;
  for (let pos = 0; ; pos++) {
    if (cur.start[tokens.length] !== -1) {
      end = pos;
      if (!longest) return end;
    }
    if (pos === value.length || cur.live.length === 0) return end;
    spend(budget, cur.live.length);
    step(tokens, cur, next, value[pos]!);
    [cur, next] = [next, cur];
    next.clear();
  }
}

/**
 * The leftmost match at or after `from`, longest at that start ([start, end) in code points), or
 * undefined. (Go's leftmost-first match of the unanchored regexp with greedy stars.)
 */
export function findMatch(
  tokens: GlobToken[],
  value: string[],
  from: number,
  budget: Budget,
): [number, number] | undefined {
  let cur = new States(tokens.length + 1);
  let next = new States(tokens.length + 1);
  let best: [number, number] | undefined;
  for (let pos = from; ; pos++) {
    // A new thread may start here only while no match is known: later starts lose to it.
    if (!best) cur.add(tokens, 0, pos);
    const done = cur.start[tokens.length]!;
    if (done !== -1 && (!best || done < best[0] || (done === best[0] && pos > best[1]))) best = [done, pos];
    if (best) {
      // Past the first match only threads that began no later can still win: an earlier start
      // (leftmost) or the same start going further (longest).
      const limit = best[0];
      const live = cur.live.filter((s) => cur.start[s]! <= limit);
      if (live.length === 0) return best;
      for (const s of cur.live) if (cur.start[s]! > limit) cur.start[s] = -1;
      cur.live.length = 0;
      cur.live.push(...live);
    }
    if (pos === value.length) return best;
    spend(budget, cur.live.length + 1);
    step(tokens, cur, next, value[pos]!);
    [cur, next] = [next, cur];
    next.clear();
  }
}
