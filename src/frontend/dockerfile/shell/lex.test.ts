/**
 * BuildKit conformance for the shell lexer: envVarTest / wordsTest data files and the transcribed
 * lex_test.go cases, read from shared/testdata (never copied).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is shell syntax, not a template
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hasCode } from '../../../errors/errors.ts';
import { sharedTestdata } from '../../../testing/shared-testdata.ts';
import { convertShellPatternToRegex, envFromList, reversePattern, reverseString, ShellLex } from './lex.ts';

const DATA = sharedTestdata();

interface Case {
  name: string;
  kind: string;
  input: string;
  escapeToken?: string;
  env?: Record<string, string>;
  envList?: string[];
  platform?: string;
  expectError?: boolean;
  expected?: unknown;
  expectedMatched?: string[];
  expectedUnmatched?: string[];
  expectedErrorContains?: string;
  greedy?: boolean;
  anchored?: boolean;
  key?: string;
}

const load = (p: string): Case[] => JSON.parse(readFileSync(`${DATA}/${p}`, 'utf8'));
const envOf = (c: Case) => c.env ?? envFromList(c.envList ?? []);

describe('envVarTest (processWord)', () => {
  for (const c of load('buildkit-shell/envVarTest.json').filter((c) => c.platform !== 'W')) {
    it(`${c.name}: ${c.input}`, () => {
      const lex = new ShellLex(c.escapeToken ?? '\\');
      if (c.expectError) {
        assert.throws(
          () => lex.processWord(c.input, envOf(c)),
          (e) => hasCode(e, 'DOCKERFILE_EXPAND'),
        );
      } else {
        assert.equal(lex.processWord(c.input, envOf(c)), c.expected);
      }
    });
  }
});

describe('wordsTest (processWords)', () => {
  for (const c of load('buildkit-shell/wordsTest.json').filter((c) => c.platform !== 'W')) {
    it(`${c.name}: ${c.input}`, () => {
      const lex = new ShellLex(c.escapeToken ?? '\\');
      if (c.expectError) assert.throws(() => lex.processWords(c.input, envOf(c)));
      else assert.deepEqual(lex.processWords(c.input, envOf(c)), c.expected);
    });
  }
});

describe('lex_test.go', () => {
  for (const c of load('buildkit-go-tests/shell_lex_test.json')) {
    it(c.name, () => {
      switch (c.kind) {
        case 'processWord':
        case 'processWordWithMatches': {
          const lex = new ShellLex(c.escapeToken ?? '\\');
          if (c.expectError) {
            assert.throws(
              () => lex.processWordWithMatches(c.input, envOf(c)),
              (e: Error) =>
                hasCode(e, 'DOCKERFILE_EXPAND') &&
                (c.expectedErrorContains === undefined || e.message.includes(c.expectedErrorContains)),
            );
            return;
          }
          const r = lex.processWordWithMatches(c.input, envOf(c));
          assert.equal(r.result, c.expected);
          if (c.expectedMatched) assert.deepEqual([...r.matched].sort(), c.expectedMatched);
          if (c.expectedUnmatched) assert.deepEqual([...r.unmatched].sort(), c.expectedUnmatched);
          return;
        }
        case 'getEnv':
          assert.equal(envFromList(c.envList ?? []).get(c.key!) ?? '', c.expected);
          return;
        case 'convertShellPatternToRegex':
          if (c.expectError) assert.throws(() => convertShellPatternToRegex(c.input, c.greedy!, c.anchored!));
          else assert.equal(convertShellPatternToRegex(c.input, c.greedy!, c.anchored!), c.expected);
          return;
        case 'reversePattern':
          assert.equal(reversePattern(c.input), c.expected);
          return;
        case 'reverseString':
          assert.equal(reverseString(c.input), c.expected);
          return;
        default:
          assert.fail(`unknown kind ${c.kind}`);
      }
    });
  }
});

describe('unset vs empty', () => {
  it('distinguishes unset from empty for ${V-d} and ${V:-d}', () => {
    const lex = new ShellLex();
    assert.equal(lex.processWord('${V-d}', { V: '' }), '');
    assert.equal(lex.processWord('${V-d}', {}), 'd');
    assert.equal(lex.processWord('${V:-d}', { V: '' }), 'd');
  });
  it('skipUnsetEnv keeps unset references as written', () => {
    const lex = new ShellLex('\\', { skipUnsetEnv: true });
    assert.equal(lex.processWord('$A ${B} ${C:-x} $D', { D: 'd' }), '$A ${B} ${C:-x} d');
  });
  it('honours a backtick escape token', () => {
    const lex = new ShellLex('`');
    assert.equal(lex.processWord('a`$b\\c', { b: 'X' }), 'a$b\\c');
  });
});
