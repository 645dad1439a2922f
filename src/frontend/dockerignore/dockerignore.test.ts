/**
 * The moby/patternmatcher, ignorefile and docker/cli cases transcribed in the shared conformance
 * data (shared/testdata/dockerignore), run against our port; every case must pass.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sharedTestdata } from '../../testing/shared-testdata.ts';
import { goClean } from './filepath.ts';
import { readDockerignore, selectDockerignore } from './ignorefile.ts';
import { goMatch } from './match.ts';
import {
  EMPTY_MATCH_INFO,
  type MatchInfo,
  matchesPatterns,
  Pattern,
  PatternMatcher,
} from './patternmatcher.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON test tables
type Case = any;
const load = (name: string): Case[] => JSON.parse(readFileSync(sharedTestdata('dockerignore', name), 'utf8'));

function parentsOf(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (p !== '') out.push(p);
  }
  return out;
}

function runMethod(pm: PatternMatcher, method: string, path: string): boolean {
  switch (method) {
    case 'MatchesOrParentMatches':
      return pm.matchesOrParentMatches(path);
    case 'MatchesUsingParentResultsNoContext':
      return pm.matchesUsingParentResults(path, EMPTY_MATCH_INFO).matched;
    case 'MatchesUsingParentResults': {
      let info: MatchInfo = EMPTY_MATCH_INFO;
      for (const parent of parentsOf(path)) info = pm.matchesUsingParentResults(parent, info).info;
      return pm.matchesUsingParentResults(path, info).matched;
    }
    case 'MatchesUsingParentResult': {
      let matched = false;
      for (const parent of parentsOf(path)) matched = pm.matchesUsingParentResult(parent, matched);
      return pm.matchesUsingParentResult(path, matched);
    }
    default:
      throw new Error(`unknown method ${method}`);
  }
}

describe('moby/patternmatcher cases', () => {
  for (const c of load('patternmatcher_test.json')) {
    it(`${c.kind} ${c.name} ${JSON.stringify(c.patterns ?? c.pattern)} ${JSON.stringify(c.path ?? '')}`, () => {
      switch (c.kind) {
        case 'Matches':
          if (c.expectError) {
            assert.throws(
              () => matchesPatterns(c.path, c.patterns),
              (e: Error) => /syntax error in pattern|illegal exclusion/.test(e.message),
            );
          } else {
            assert.equal(matchesPatterns(c.path, c.patterns), c.expected);
          }
          break;
        case 'PatternMatcher':
          for (let r = 0; r < (c.repeat ?? 1); r++) {
            const pm = new PatternMatcher(c.patterns);
            for (const m of c.methods) {
              if (c.expectError) {
                assert.throws(
                  () => runMethod(pm, m, c.path),
                  (e: Error) => /syntax error in pattern/.test(e.message),
                  m,
                );
              } else {
                assert.equal(runMethod(pm, m, c.path), c.expected, m);
              }
            }
          }
          break;
        case 'New':
          if (c.expectError) {
            assert.throws(
              () => new PatternMatcher(c.patterns),
              (e: Error) => e.message === c.expectedErrorFromSource,
            );
          } else {
            const pm = new PatternMatcher(c.patterns);
            if (c.expectedPatternCount !== undefined)
              assert.equal(pm.patterns.length, c.expectedPatternCount);
            if (c.expectedExclusions !== undefined) assert.equal(pm.exclusions, c.expectedExclusions);
          }
          break;
        case 'compile': {
          const p = new Pattern(goClean(c.pattern), false);
          assert.equal(p.matchType, c.expectedMatchType);
          if (c.expectedRegexp !== undefined) assert.equal(p.regexpSource, c.expectedRegexp);
          break;
        }
        default:
          assert.fail(`unhandled kind ${c.kind}`);
      }
    });
  }
});

describe('ignorefile ReadAll cases', () => {
  for (const c of load('ignorefile_test.json')) {
    it(c.name, () => assert.deepEqual(readDockerignore(c.input), c.expected));
  }
});

describe('docker/cli filepathMatches cases', () => {
  for (const c of load('docker_cli_context_test.json')) {
    it(`${c.name} ${JSON.stringify(c.patterns)} ${c.path}`, () => {
      const pm = new PatternMatcher(c.patterns);
      const f = goClean(c.path);
      assert.equal(f === '.' ? false : pm.matchesOrParentMatches(f), c.expected);
    });
  }
});

describe('readDockerignore details', () => {
  it('strips a BOM, CRLF, comments only at column 0, and cleans paths', () => {
    const text = '\uFEFF# comment\r\n  # not a comment\r\n/foo/../bar//baz/\r\n!  /keep\n\n./x\n/\n/..\n';
    assert.deepEqual(readDockerignore(text), ['# not a comment', 'bar/baz', '!keep', 'x', '/', '/']);
  });
  it('keeps a BOM given as bytes out of the first pattern', () => {
    assert.deepEqual(readDockerignore(Buffer.from('\uFEFFnode_modules\n')), ['node_modules']);
  });
  it('does not treat U+FEFF inside a line as space (Go TrimSpace)', () => {
    assert.deepEqual(readDockerignore('a\n\uFEFFb'), ['a', '\uFEFFb']);
  });
});

describe('regexp-special characters that @balena/dockerignore mishandles', () => {
  const cases: [string, string, boolean][] = [
    ['a+b*', 'a+bc', true],
    ['a+b*', 'aab', false],
    ['(x)*', '(x)y', true],
    ['{a,b}*', '{a,b}c', true],
    ['a|b*', 'a|bz', true],
    ['$x*', '$xy', true],
    ['a]b*', 'a]bc', true],
    ['dir/**/*.min.js', 'dir/x/y/app.min.js', true],
    ['dir/**/*.min.js', 'dir/x/y/appXmin.js', false],
    ['a\\-b*', 'a-bc', true],
    ['secret-*', 'secret-key', true],
    ['secret-*', 'secretXkey', false],
    ['[a-c]-[x-z]?', 'b-yq', true],
    ['f\\!*', 'f!x', true],
  ];
  for (const [pattern, path, want] of cases) {
    it(`${pattern} vs ${path}`, () =>
      assert.equal(new PatternMatcher([pattern]).matchesOrParentMatches(path), want));
  }
  it('rejects a reversed range at match time like RE2 does', () => {
    const pm = new PatternMatcher(['[z-a]*']);
    assert.throws(() => pm.matchesOrParentMatches('q'), /syntax error in pattern/);
  });
});

describe('Go filepath.Match', () => {
  it('matches supplementary characters as one rune', () => {
    assert.equal(goMatch('a?b', 'a😀b'), true);
    assert.equal(goMatch('*.txt', 'dir/a.txt'), false);
  });
});

describe('walk skip decisions', () => {
  it('an excluded dir with no exception under it can be skipped', () => {
    const pm = new PatternMatcher(['node_modules', '!src/keep']);
    assert.equal(pm.canSkipExcludedDir('node_modules'), true);
  });
  it('an excluded dir with a literal exception under it must be walked', () => {
    const pm = new PatternMatcher(['foo*', '!foo/bar2']);
    assert.equal(pm.canSkipExcludedDir('foo'), false);
  });
  it('an exception with wildcards forces a walk', () => {
    const pm = new PatternMatcher(['build', '!**/*.keep']);
    assert.equal(pm.canSkipExcludedDir('build'), false);
  });
  it('an include list of prefixes prunes unrelated dirs', () => {
    const pm = new PatternMatcher(['src/app/**', 'README.md']);
    assert.equal(pm.canSkipUnincludedDir('test'), true);
    assert.equal(pm.canSkipUnincludedDir('src'), false);
  });
});

describe('selectDockerignore', () => {
  it('prefers <Dockerfile>.dockerignore next to the Dockerfile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-di-'));
    try {
      writeFileSync(join(dir, '.dockerignore'), 'a\n');
      writeFileSync(join(dir, 'Dockerfile2.dockerignore'), 'b\n');
      assert.deepEqual(selectDockerignore(dir, join(dir, 'Dockerfile2')).patterns, ['b']);
      assert.deepEqual(selectDockerignore(dir, join(dir, 'Dockerfile')).patterns, ['a']);
      rmSync(join(dir, '.dockerignore'));
      assert.deepEqual(selectDockerignore(dir, join(dir, 'Dockerfile')), { patterns: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
