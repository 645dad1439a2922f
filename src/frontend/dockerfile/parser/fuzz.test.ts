/**
 * Bounded fuzzing of the parser, the instruction layer and the shell lexer: random and mutated
 * Dockerfiles (from the BuildKit testfiles corpus) with a fixed seed. Every failure must be a
 * KilnError carrying a line; nothing may crash otherwise or take long.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Dockerfile syntax, not a template
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { KilnError } from '../../../errors/errors.ts';
import { sharedTestdata } from '../../../testing/shared-testdata.ts';
import { expandInstruction } from '../instructions/expand.ts';
import { parseStages } from '../instructions/parse.ts';
import type { Instruction } from '../instructions/types.ts';
import { ShellLex } from '../shell/lex.ts';
import { dumpAst } from './ast.ts';
import { parseDockerfile } from './parser.ts';

const ROOT = sharedTestdata('buildkit-parser-testfiles', 'testfiles');
const ITERATIONS = 3000;

/** mulberry32: small deterministic PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '\\\n',
  '\\',
  '`',
  '\n',
  '\n\n',
  ' ',
  '\t',
  '#',
  '# escape=`\n',
  '# syntax=x\n',
  '"',
  "'",
  '[',
  ']',
  '["a", 1]',
  '$',
  '${',
  '}',
  '${A:-b}',
  '${A/x/y}',
  '${A%%*}',
  '${A:?m}',
  '<<EOF\n',
  '<<-EOF\n',
  "<<'E'",
  'EOF\n',
  '3<<X',
  '--',
  '--mount=type=cache,target=/x',
  '--mount=type=secret',
  '--mount=type=$T',
  '--from=a',
  '--chmod=755',
  '=',
  'RUN ',
  'COPY ',
  'ADD ',
  'FROM ',
  'ONBUILD ',
  'ENV ',
  'ARG ',
  'LABEL ',
  'HEALTHCHECK ',
  'EXPOSE ',
  'SHELL ',
  'CMD ',
  'AS ',
  '\u00e9',
  '\u{1F680}',
  '\u0000',
  '\r\n',
  '\ufeff',
];
const INSTRUCTIONS = [
  'FROM alpine AS b',
  'RUN echo $A',
  'RUN --mount=type=cache,target=/c make',
  'COPY --from=b /a /b',
  'COPY <<EOF /x\nhi $A\nEOF',
  'RUN <<-EOF\n\techo\n\tEOF',
  'ENV A=1 B="2 3"',
  'ENV A 1',
  'ARG A B=2',
  'LABEL a=b',
  'EXPOSE 80/tcp ${P}',
  'HEALTHCHECK --interval=5s CMD true',
  'HEALTHCHECK NONE',
  'ONBUILD RUN x',
  'SHELL ["sh", "-c"]',
  'CMD ["a"]',
  'ENTRYPOINT a b',
  'USER u:g',
  'WORKDIR /w',
  'VOLUME ["/v"]',
  'STOPSIGNAL SIGTERM',
  'MAINTAINER m',
  'ADD --checksum=sha256:00 http://x /y',
  'RUN --network=none --security=insecure true',
];

const corpus = readdirSync(ROOT).map((d) => readFileSync(`${ROOT}/${d}/Dockerfile`, 'utf8'));

function mutate(src: string, r: () => number): string {
  let s = src;
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 4)) {
      case 0:
        s = s.slice(0, pos) + TOKENS[Math.floor(r() * TOKENS.length)] + s.slice(pos);
        break;
      case 1:
        s = s.slice(0, pos) + s.slice(pos + Math.floor(r() * 20));
        break;
      case 2: {
        const lines = s.split('\n');
        const a = Math.floor(r() * lines.length);
        lines.splice(Math.floor(r() * lines.length), 0, lines[a]!);
        s = lines.join('\n');
        break;
      }
      default:
        s = s.slice(0, pos) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(pos);
    }
  }
  return s;
}

function generate(r: () => number): string {
  const lines: string[] = [];
  const n = Math.floor(r() * 10);
  for (let i = 0; i < n; i++) {
    let line = INSTRUCTIONS[Math.floor(r() * INSTRUCTIONS.length)]!;
    if (r() < 0.3) line = mutate(line, r);
    lines.push(line);
  }
  return lines.join(r() < 0.5 ? '\n' : ' \\\n');
}

function assertKilnError(err: unknown, input: string, codes: string[]): void {
  if (!(err instanceof KilnError) || !codes.includes(err.code)) {
    assert.fail(
      `unexpected ${String(err)}\n--- input ---\n${JSON.stringify(input)}\n${(err as Error)?.stack}`,
    );
  }
  if (err.code === 'DOCKERFILE_PARSE') {
    assert.ok(
      err.location && err.location.startLine >= 1 && err.location.endLine >= err.location.startLine,
      input,
    );
  }
}

function exercise(input: string, lex: ShellLex): void {
  let result: ReturnType<typeof parseDockerfile>;
  try {
    result = parseDockerfile(input);
  } catch (err) {
    assertKilnError(err, input, ['DOCKERFILE_PARSE']);
    return;
  }
  assert.equal(typeof dumpAst(result), 'string');
  for (const n of result.ast.children) assert.ok(n.startLine >= 1 && n.endLine >= n.startLine);
  let stages: ReturnType<typeof parseStages>;
  try {
    stages = parseStages(result);
  } catch (err) {
    assertKilnError(err, input, ['DOCKERFILE_PARSE']);
    return;
  }
  const env = { A: 'a b', T: 'cache', P: '80', EMPTY: '' };
  const insts: Instruction[] = [...stages.metaArgs, ...stages.stages.flatMap((s) => s.instructions)];
  for (const ins of insts) {
    try {
      expandInstruction(ins, {
        word: (w) => lex.processWord(w, env),
        words: (w) => lex.processWords(w, env),
      });
    } catch (err) {
      assertKilnError(err, input, ['DOCKERFILE_PARSE', 'DOCKERFILE_EXPAND']);
    }
  }
  for (const w of input.split(/\s+/).slice(0, 20)) {
    try {
      lex.processWordWithMatches(w, env);
    } catch (err) {
      assertKilnError(err, w, ['DOCKERFILE_EXPAND']);
    }
  }
}

it(`parser, instructions and lexer survive ${ITERATIONS} random/mutated Dockerfiles`, () => {
  const r = rng(0x6b696c6e);
  const lexes = [new ShellLex('\\'), new ShellLex('`')];
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const input = r() < 0.6 ? mutate(corpus[Math.floor(r() * corpus.length)]!, r) : generate(r);
    const t0 = Date.now();
    exercise(input, lexes[i % 2]!);
    assert.ok(Date.now() - t0 < 1000, `iteration ${i} took too long: ${JSON.stringify(input).slice(0, 200)}`);
  }
  assert.ok(Date.now() - started < 20_000);
});
