/**
 * BuildKit conformance for the Dockerfile parser: the testfiles golden dumps, negative files,
 * line numbers, and the transcribed parser / heredoc / directives / json / line-parser Go tests.
 * Data is read from shared/testdata (never copied).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hasCode, type KilnError } from '../../../errors/errors.ts';
import { sharedTestdata } from '../../../testing/shared-testdata.ts';
import {
  chompHeredocContent,
  DirectiveParser,
  detectSyntax,
  dumpAst,
  heredocsFromLine,
  parseDirective,
  parseDockerfile,
  parseHeredoc,
  parseJSON,
  parseNameVal,
  parseWords,
} from './index.ts';

const DATA = sharedTestdata();
const PT = `${DATA}/buildkit-parser-testfiles`;
const GO = `${DATA}/buildkit-go-tests`;

// biome-ignore lint/suspicious/noExplicitAny: transcribed JSON cases have many shapes
type Case = Record<string, any>;
const load = (f: string): Case[] => JSON.parse(readFileSync(`${GO}/${f}`, 'utf8'));

function isParseError(expected?: string, exact = false) {
  return (e: unknown) => {
    assert.ok(hasCode(e, 'DOCKERFILE_PARSE'), `expected DOCKERFILE_PARSE, got ${String(e)}`);
    const err = e as KilnError;
    assert.ok(err.location && err.location.startLine >= 1, 'error carries a line');
    if (expected !== undefined) {
      const msg = err.message.replace(/^dockerfile parse error on line \d+: /, '');
      if (exact) assert.equal(msg, expected);
      else assert.ok(msg.includes(expected), `${msg} should contain ${expected}`);
    }
    return true;
  };
}

describe('testfiles: AST dump matches result', () => {
  for (const dir of readdirSync(`${PT}/testfiles`).sort()) {
    it(dir, () => {
      const src = readFileSync(`${PT}/testfiles/${dir}/Dockerfile`);
      const expected = readFileSync(`${PT}/testfiles/${dir}/result`, 'utf8');
      assert.equal(dumpAst(parseDockerfile(src)) + '\n', expected);
    });
  }
});

describe('testfiles-negative fail with the expected error', () => {
  const expectations: Case[] = JSON.parse(readFileSync(`${PT}/negative-expected-errors.json`, 'utf8'));
  assert.equal(expectations.length, readdirSync(`${PT}/testfiles-negative`).length);
  for (const c of expectations) {
    it(c.name, () => {
      const src = readFileSync(`${PT}/${c.input}`);
      assert.throws(() => parseDockerfile(src), isParseError(c.expectedErrorFromSource, true));
    });
  }
});

describe('parser_test.go', () => {
  for (const c of load('parser_test.json')) {
    it(c.name, () => {
      switch (c.kind) {
        case 'parseWords':
          assert.deepEqual(parseWords(c.input, c.escapeToken), c.expected);
          return;
        case 'lineNumbers': {
          const r = parseDockerfile(readFileSync(`${GO}/${c.inputFile}`));
          assert.equal(r.ast.startLine, c.expectedRoot.startLine);
          assert.equal(r.ast.endLine, c.expectedRoot.endLine);
          assert.equal(r.ast.children.length, c.expectedRoot.childCount);
          assert.deepEqual(
            r.ast.children.map((n) => [n.startLine, n.endLine]),
            c.expectedChildren,
          );
          return;
        }
        case 'warnings': {
          const r = parseDockerfile(c.input);
          assert.equal(r.warnings.length, c.expectedWarningCount);
          c.expectedWarningShortContains.forEach((parts: string[], i: number) => {
            for (const p of parts)
              assert.ok(r.warnings[i]!.short.includes(p), `${r.warnings[i]!.short} ⊇ ${p}`);
          });
          assert.ok(r.warnings[0]!.detail.join('\n').includes(c.expectedWarning0DetailContains));
          assert.equal(r.warnings[0]!.url, c.warningUrl);
          return;
        }
        case 'error': {
          const input = c.inputTemplate.replace('{{REPEAT}}', c.repeat.char.repeat(c.repeat.count));
          assert.throws(() => parseDockerfile(input), isParseError(c.expectedError, true));
          return;
        }
        default:
          assert.fail(`unknown kind ${c.kind}`);
      }
    });
  }
});

describe('parser_heredoc_test.go', () => {
  for (const c of load('parser_heredoc_test.json')) {
    it(c.name, () => {
      switch (c.kind) {
        case 'heredocExtract': {
          const r = parseDockerfile(c.input);
          for (const e of c.expected) {
            const docs = r.ast.children[e.childIndex]!.heredocs;
            assert.deepEqual(docs.length === 0 ? null : docs, e.heredocs, `child ${e.childIndex}`);
          }
          return;
        }
        case 'chompHeredocContent':
          assert.equal(chompHeredocContent(c.input), c.expected);
          return;
        case 'parseHeredoc':
          if (c.expectError) {
            assert.throws(() => parseHeredoc(c.input));
          } else if (c.expectedName !== undefined) {
            assert.equal(parseHeredoc(c.input)?.name, c.expectedName);
          } else {
            assert.equal(parseHeredoc(c.input), undefined);
          }
          return;
        case 'heredocsFromLine': {
          // Like the Go test: every heredoc found must match the expected one at its position
          // (BuildKit finds none in `RUN <<- EOF`, which the Go loop accepts).
          const names = heredocsFromLine(c.input).map((h) => h.name);
          assert.ok(names.length <= c.expectedNames.length);
          assert.deepEqual(names, c.expectedNames.slice(0, names.length));
          return;
        }
        default:
          assert.fail(`unknown kind ${c.kind}`);
      }
    });
  }
});

describe('directives_test.go', () => {
  for (const c of load('directives_test.json')) {
    it(c.name, () => {
      if (c.kind === 'parseAll') {
        const ds = new DirectiveParser().parseAll(c.input).map(({ name, value }) => ({ name, value }));
        assert.deepEqual(ds, c.expected);
        return;
      }
      const d = c.kind === 'detectSyntax' ? detectSyntax(c.input) : parseDirective(c.key, c.input);
      assert.equal(d !== undefined, c.expectedOk);
      if (c.expectedRef !== undefined) assert.equal(d?.ref ?? '', c.expectedRef);
      if (c.expectedCmdline !== undefined) assert.equal(d?.cmdline ?? '', c.expectedCmdline);
      if (c.expectedLine !== undefined) assert.equal(d?.line, c.expectedLine);
    });
  }
});

describe('json_test.go', () => {
  for (const c of load('json_test.json')) {
    it(c.name, () => {
      if (c.expectError) {
        assert.throws(() => parseJSON(c.input), /arrays must be comprised of strings only/);
      } else {
        assert.deepEqual(parseJSON(c.input), c.expected);
      }
    });
  }
});

describe('line_parsers_test.go', () => {
  for (const c of load('line_parsers_test.json')) {
    it(c.name, () => {
      if (c.expectError) {
        assert.throws(() => parseNameVal(c.input, c.command, '\\'), { message: c.expectedErrorFromSource });
      } else {
        assert.deepEqual(
          parseNameVal(c.input, c.command, '\\').map((n) => n.value),
          c.expectedValues,
        );
      }
    });
  }
});

describe('parser behaviour', () => {
  it('puts the file name and line range on errors', () => {
    assert.throws(
      () => parseDockerfile('FROM a\nRUN ["a", 1]\n', { file: 'x/Dockerfile' }),
      (e: KilnError) =>
        e.location?.file === 'x/Dockerfile' && e.location.startLine === 2 && /line 2:/.test(e.message),
    );
  });
  it('reports an unterminated heredoc', () => {
    assert.throws(() => parseDockerfile('FROM a\nRUN <<EOF\necho\n'), isParseError('unterminated heredoc'));
  });
  it('records directives and a backtick escape token', () => {
    const r = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN a `\n  b\n');
    assert.equal(r.escapeToken, '`');
    assert.equal(r.directives.syntax, 'docker/dockerfile:1');
    assert.equal(dumpAst(r), '(from "a")\n(run "a   b")');
  });
  it('rejects a repeated directive', () => {
    assert.throws(
      () => parseDockerfile('# escape=`\n# escape=\\\nFROM a\n'),
      isParseError('only one escape'),
    );
  });
  it('finds heredocs like BuildKit: `<< EOF` is one, `<<- EOF` is not', () => {
    assert.deepEqual(
      heredocsFromLine('RUN <<EOF <<  E2 <<-E3').map((h) => [h.name, h.chomp]),
      [
        ['EOF', false],
        ['E2', false],
        ['E3', true],
      ],
    );
    assert.deepEqual(heredocsFromLine('RUN <<- EOF'), []);
  });
  it('spans heredoc bodies in the line range', () => {
    const r = parseDockerfile('FROM a\nCOPY <<A <<B /d\n1\nA\n2\nB\nRUN x\n');
    assert.deepEqual(
      r.ast.children.map((n) => [n.startLine, n.endLine]),
      [
        [1, 1],
        [2, 6],
        [7, 7],
      ],
    );
    assert.deepEqual(
      r.ast.children[1]!.heredocs.map((h) => h.content),
      ['1\n', '2\n'],
    );
  });
});
