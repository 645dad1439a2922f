/**
 * The linear pattern matcher: the same answers as BuildKit's regexps (checked against the regexp
 * translation on thousands of random patterns and values, where backtracking is still cheap), and
 * patterns that made the regexps backtrack for hours finish at once or fail with a clear error.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is shell syntax, not a template
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MATCH_BUDGET } from './glob.ts';
import { ShellLex } from './lex.ts';
import { convertShellPatternToRegex, reversePattern, reverseString } from './pattern.ts';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const re = (p: string, greedy: boolean, anchored: boolean, flags = 'u') =>
  new RegExp(convertShellPatternToRegex(p, greedy, anchored), flags);

/** The regexp implementations the matcher replaced (BuildKit's semantics, backtracking). */
const oracle = {
  trimPrefix(p: string, v: string, greedy: boolean): string {
    const m = re(p, greedy, true).exec(v);
    return m ? v.slice(m.index + m[0].length) : v;
  },
  trimSuffix(p: string, v: string, greedy: boolean): string {
    return reverseString(oracle.trimPrefix(reversePattern(p), reverseString(v), greedy));
  },
  replaceFirst(p: string, v: string, r: string): string {
    const m = re(p, true, false).exec(v);
    return m ? v.slice(0, m.index) + r + v.slice(m.index + m[0].length) : v;
  },
  replaceAll(p: string, v: string, r: string): string {
    const expand = (match: string) =>
      r.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (m, braced, bare) =>
        m === '$$' ? '$' : /^[0-9]+$/.test(braced ?? bare) && Number(braced ?? bare) === 0 ? match : '',
      );
    let out = '';
    let last = 0;
    let lastMatchEnd = -1;
    for (const m of v.matchAll(re(p, true, false, 'gu'))) {
      const start = m.index ?? 0;
      if (m[0].length === 0 && start === lastMatchEnd) continue;
      out += v.slice(last, start) + expand(m[0]);
      last = start + m[0].length;
      lastMatchEnd = last;
    }
    return out + v.slice(last);
  },
};

describe('shell pattern matching', () => {
  it('agrees with the regexp translation on 4000 random patterns and values', () => {
    const next = rng(20261203);
    const pick = (s: string) => Array.from(s)[Math.floor(next() * Array.from(s).length)]!;
    const lex = new ShellLex();
    for (let i = 0; i < 4000; i++) {
      let p = '';
      const tokens = ['a', 'b', '*', '*', '?', '.', 'é', '\\*', '\\?', '\\\\'];
      for (let n = 1 + Math.floor(next() * 5); n > 0; n--) p += tokens[Math.floor(next() * tokens.length)];
      let v = '';
      for (let n = Math.floor(next() * 10); n > 0; n--) v += pick('aab.b\né$');
      const r = pick('x$0$$');
      const env = { V: v };
      const esc = p.replace(/[}/]/g, '\\$&');
      const cases: [string, string][] = [
        [`\${V#${esc}}`, oracle.trimPrefix(p, v, false)],
        [`\${V##${esc}}`, oracle.trimPrefix(p, v, true)],
        [`\${V%${esc}}`, oracle.trimSuffix(p, v, false)],
        [`\${V%%${esc}}`, oracle.trimSuffix(p, v, true)],
        [`\${V/${esc}/${r}}`, oracle.replaceFirst(p, v, r)],
        [`\${V//${esc}/${r}}`, oracle.replaceAll(p, v, r)],
      ];
      for (const [word, expected] of cases) {
        assert.equal(lex.processWord(word, env), expected, `${JSON.stringify(word)} on ${JSON.stringify(v)}`);
      }
    }
  });

  it('patterns that make a backtracking regexp run for hours finish at once on a 1 MiB value', {
    timeout: 30_000,
  }, () => {
    const lex = new ShellLex();
    const env = { A: 'a'.repeat(1 << 20) };
    // ${A/*a*a*a*b/x} on 200 characters took 18 s with the regexps; here 1 MiB takes milliseconds.
    for (const word of ['${A#*a*a*a*b}', '${A%%*a*a*a*b}', '${A/*a*a*a*b/x}', '${A//a*a*b/x}']) {
      const t = performance.now();
      assert.equal(lex.processWord(word, env), env.A, word);
      assert.ok(performance.now() - t < 5000, `${word} took ${Math.round(performance.now() - t)} ms`);
    }
  });

  it('a pattern as long as the value fails with DOCKERFILE_EXPAND instead of running for minutes', () => {
    const lex = new ShellLex();
    const env = { A: 'a'.repeat(200_000), P: '*?'.repeat(1000) };
    assert.throws(
      () => lex.processWord('${A//${P}b/x}', env),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DOCKERFILE_EXPAND');
        assert.match(err.message, new RegExp(`more than ${MATCH_BUDGET} steps`));
        return true;
      },
    );
  });
});

describe('expanded word length', () => {
  it('ARG A=$A$A doubling stops at 1 MiB with DOCKERFILE_WORD_TOO_LONG', () => {
    const lex = new ShellLex();
    let a = 'x';
    let err: (Error & { code?: string }) | undefined;
    for (let i = 0; i < 40 && !err; i++) {
      try {
        a = lex.processWord('${A}${A}', { A: a });
      } catch (e) {
        err = e as Error & { code?: string };
      }
    }
    assert.equal(err?.code, 'DOCKERFILE_WORD_TOO_LONG');
    assert.ok(a.length <= 1 << 20);
  });

  it('a replacement that multiplies the value is capped too', () => {
    const lex = new ShellLex();
    const env = { A: 'a'.repeat(100_000), R: 'r'.repeat(100) };
    assert.throws(() => lex.processWord('${A//a/${R}}', env), { code: 'DOCKERFILE_WORD_TOO_LONG' });
    assert.throws(() => lex.processWord('"$A$A$A$A$A$A$A$A$A$A$A"', env), {
      code: 'DOCKERFILE_WORD_TOO_LONG',
    });
  });
});
