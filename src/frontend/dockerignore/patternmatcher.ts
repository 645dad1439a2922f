/**
 * A port of moby/patternmatcher: ordered .dockerignore patterns with `!` exceptions, `**`,
 * and the exact regexp translation Docker uses (including its treatment of regexp-special
 * characters), plus the per-pattern parent results BuildKit threads through a directory walk.
 */
import { KilnError } from '../../errors/errors.ts';
import { goClean, goDir, goTrimSpace } from './filepath.ts';
import { badPattern, goMatch } from './match.ts';

export type MatchType = 'exactMatch' | 'prefixMatch' | 'suffixMatch' | 'regexpMatch';

/** Per-pattern results for a directory, handed to its children (moby's MatchInfo). */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

export const EMPTY_MATCH_INFO: MatchInfo = { parentMatched: [] };

const SHOULD_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);
const JS_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
// RE2 escapes that JavaScript (u flag) spells the same way; others that RE2 rejects make the pattern bad.
const RE2_LETTER_ESCAPES: Record<string, string> = {
  d: '\\d',
  D: '\\D',
  s: '[\\t\\n\\f\\r ]',
  S: '[^\\t\\n\\f\\r ]',
  w: '\\w',
  W: '\\W',
  b: '\\b',
  B: '\\B',
  t: '\\t',
  n: '\\n',
  r: '\\r',
  f: '\\f',
  v: '\\v',
  a: '\\x07',
  A: '^',
  z: '$',
};

/** One compiled pattern. */
export class Pattern {
  readonly cleanedPattern: string;
  readonly exclusion: boolean;
  readonly dirs: string[];
  private compiled = false;
  private type: MatchType = 'exactMatch';
  private goRegexp = '';
  private regexp?: RegExp;
  private compileError = false;

  constructor(cleanedPattern: string, exclusion: boolean) {
    this.cleanedPattern = cleanedPattern;
    this.exclusion = exclusion;
    this.dirs = cleanedPattern.split('/');
  }

  toString(): string {
    return this.cleanedPattern;
  }

  /** The match strategy, compiling on first use (as moby does lazily). */
  get matchType(): MatchType {
    this.compile();
    return this.type;
  }

  /** The regexp in Go RE2 syntax, as moby builds it ('' unless regexpMatch). */
  get regexpSource(): string {
    this.compile();
    return this.goRegexp;
  }

  private compile(): void {
    if (this.compiled) return;
    this.compiled = true;
    const chars = Array.from(this.cleanedPattern);
    let go = '^';
    let js = '^';
    let inClass = false;
    let type: MatchType = 'exactMatch';
    for (let i = 0, k = 0; k < chars.length; i++) {
      const ch = chars[k++];
      if (ch === '*') {
        if (chars[k] === '*') {
          k++;
          if (chars[k] === '/') k++;
          if (k >= chars.length) {
            if (type === 'exactMatch') type = 'prefixMatch';
            else {
              go += '.*';
              js += '.*';
              type = 'regexpMatch';
            }
          } else {
            go += '(.*/)?';
            js += '(.*\\/)?';
            type = 'regexpMatch';
          }
          if (i === 0) type = 'suffixMatch';
        } else {
          go += '[^/]*';
          js += inClass ? '*' : '[^\\/]*';
          type = 'regexpMatch';
        }
      } else if (ch === '?') {
        go += '[^/]';
        js += inClass ? '?' : '[^\\/]';
        type = 'regexpMatch';
      } else if (SHOULD_ESCAPE.has(ch)) {
        go += `\\${ch}`;
        js += `\\${ch}`;
      } else if (ch === '\\') {
        if (k < chars.length) {
          const next = chars[k++];
          go += `\\${next}`;
          js += jsEscape(next, inClass);
          type = 'regexpMatch';
        } else {
          go += '\\';
          js += '\\\\';
        }
      } else if (ch === '[') {
        go += ch;
        js += inClass ? '\\[' : '[';
        inClass = true;
        type = 'regexpMatch';
      } else if (ch === ']') {
        go += ch;
        js += inClass ? ']' : '\\]';
        inClass = false;
        type = 'regexpMatch';
      } else {
        go += ch;
        if (ch === '^' && inClass && chars[k - 2] === '[') js += '^';
        // A plain '-' outside a class: `\-` there is a syntax error under the u flag.
        else js += JS_SYNTAX.has(ch) ? `\\${ch}` : ch;
      }
    }
    this.type = type;
    if (type !== 'regexpMatch') return;
    this.goRegexp = `${go}$`;
    try {
      if (js.includes('\u0000BAD')) throw new Error('unsupported escape');
      this.regexp = new RegExp(`${js}$`, 'u');
    } catch {
      this.compileError = true;
    }
  }

  /** moby Pattern.match: throws PATTERN_SYNTAX when the regexp does not compile. */
  match(path: string): boolean {
    this.compile();
    switch (this.type) {
      case 'exactMatch':
        return path === this.cleanedPattern;
      case 'prefixMatch':
        return path.startsWith(this.cleanedPattern.slice(0, -2));
      case 'suffixMatch': {
        const suffix = this.cleanedPattern.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix[0] === '/' && path === suffix.slice(1);
      }
      default:
        if (this.compileError || !this.regexp) throw badPattern(this.cleanedPattern);
        return this.regexp.test(path);
    }
  }

  /** Like match, but a bad pattern is simply "no match" (moby ignores errors on parent checks). */
  matchQuiet(path: string): boolean {
    try {
      return this.match(path);
    } catch {
      return false;
    }
  }
}

function withoutTrailingGlob(p: Pattern): string {
  let s = p.cleanedPattern;
  if (s.endsWith('/**')) s = s.slice(0, -3);
  if (s.endsWith('/*')) s = s.slice(0, -2);
  return s;
}

function jsEscape(ch: string, inClass: boolean): string {
  if (JS_SYNTAX.has(ch)) return `\\${ch}`;
  if (ch === '-') return inClass ? '\\-' : '-';
  if (/^[A-Za-z0-9]$/.test(ch)) return RE2_LETTER_ESCAPES[ch] ?? '\u0000BAD';
  return ch;
}

/** A list of patterns evaluated in order; later ones override earlier ones. */
export class PatternMatcher {
  readonly patterns: Pattern[] = [];
  /** True when some pattern is a `!` exception. */
  readonly exclusions: boolean = false;

  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      let p = goTrimSpace(raw);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) {
          throw new KilnError('DOCKERIGNORE_INVALID', 'illegal exclusion pattern: "!"', {
            hint: 'a "!" line must be followed by the pattern to re-include, e.g. "!docs/README.md"',
          });
        }
        exclusion = true;
        p = p.slice(1);
        this.exclusions = true;
      }
      // Validate as Go does: filepath.Match(p, ".") reports a malformed pattern.
      try {
        goMatch(p, '.');
      } catch {
        throw badPattern(p);
      }
      this.patterns.push(new Pattern(p, exclusion));
    }
  }

  /**
   * moby's deprecated Matches: tries the path and the one parent prefix with as many parts as
   * the pattern. Kept for compatibility; use matchesOrParentMatches.
   */
  matches(file: string): boolean {
    let matched = false;
    const parentPath = goDir(file);
    const parentDirs = parentPath.split('/');
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentPath !== '.' && pattern.dirs.length <= parentDirs.length) {
        match = pattern.matchQuiet(parentDirs.slice(0, pattern.dirs.length).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** True when the last pattern that matches `file` or any of its parent directories is not an exception. */
  matchesOrParentMatches(file: string): boolean {
    let matched = false;
    const parentPath = goDir(file);
    const parentDirs = parentPath.split('/');
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentPath !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) {
          match = pattern.matchQuiet(parentDirs.slice(0, i + 1).join('/'));
        }
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * The same answer as matchesOrParentMatches, using the parent directory's per-pattern results
   * (from a walk) instead of re-matching every parent. EMPTY_MATCH_INFO means "no context".
   */
  matchesUsingParentResults(file: string, parent: MatchInfo): { matched: boolean; info: MatchInfo } {
    const parentMatched = parent.parentMatched;
    if (parentMatched.length !== 0 && parentMatched.length !== this.patterns.length) {
      throw new KilnError('PATTERN_MATCH_INFO', 'wrong number of values in parentMatched');
    }
    let matched = false;
    const out: boolean[] = new Array(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, i) => {
      let match = parentMatched.length !== 0 ? parentMatched[i] : false;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(file);
        if (!match && parentMatched.length === 0) {
          const parentPath = goDir(file);
          if (parentPath !== '.') {
            const dirs = parentPath.split('/');
            for (let j = 0; j < dirs.length && !match; j++)
              match = pattern.matchQuiet(dirs.slice(0, j + 1).join('/'));
          }
        }
      }
      out[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info: { parentMatched: out } };
  }

  /**
   * For a matcher of exclude patterns, when directory `dir` is excluded: true when no `!`
   * exception could re-include anything below it, so a walk may skip the whole directory
   * (BuildKit's fsutil optimisation). False when an exception has wildcards: then one cannot tell.
   */
  canSkipExcludedDir(dir: string): boolean {
    if (!this.exclusions) return true;
    return this.onlyPrefixes(true) && !this.hasPatternUnder(dir, true);
  }

  /**
   * For a matcher of include patterns, when directory `dir` is not included: true when no
   * include pattern could match anything below it.
   */
  canSkipUnincludedDir(dir: string): boolean {
    return this.onlyPrefixes(false) && !this.hasPatternUnder(dir, false);
  }

  private onlyPrefixes(exclusion: boolean): boolean {
    return this.patterns.every((p) => p.exclusion !== exclusion || !/[*?[\\]/.test(withoutTrailingGlob(p)));
  }

  private hasPatternUnder(dir: string, exclusion: boolean): boolean {
    const dirSlash = `${dir}/`;
    return this.patterns.some(
      (p) => p.exclusion === exclusion && `${withoutTrailingGlob(p)}/`.startsWith(dirSlash),
    );
  }

  /** moby's deprecated single-bool variant: `parentMatched` is the parent directory's result. */
  matchesUsingParentResult(file: string, parentMatched: boolean): boolean {
    let matched = parentMatched;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (pattern.match(file)) matched = !pattern.exclusion;
    }
    return matched;
  }
}

/** moby's top-level Matches(file, patterns): a cleaned path of "." never matches. */
export function matchesPatterns(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const f = goClean(file);
  if (f === '.') return false;
  return pm.matches(f);
}
