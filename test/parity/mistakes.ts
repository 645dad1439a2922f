/**
 * The everyday build mistakes that kiln's errors are compared on with BuildKit's: each case is a
 * context (files, with {{REGISTRY}} and {{CLOSED_PORT}} filled in per run) and build flags, and the
 * facts a useful error must state. scripts/record-mistakes.ts records BuildKit's messages for them;
 * mistakes.test.ts checks that kiln states every fact BuildKit does, and the ones BuildKit leaves out.
 */

/** One fact an error message must state, as a pattern that either builder's wording matches. */
export interface Fact {
  /** What the fact is, for assertion messages ("the Dockerfile line", "the exit code"). */
  what: string;
  pattern: RegExp;
}

export interface Mistake {
  name: string;
  /** The mistake, in words. */
  title: string;
  /** Context files; `Dockerfile` is the one built unless `args` says otherwise. */
  files: Record<string, string>;
  /** Directories to create in the context (a `.dockerignore` that is a directory). */
  dirs?: string[];
  /** Flags for `build` before the context argument. */
  args?: string[];
  /** Facts BuildKit's message states: kiln's must state them too. */
  shared: Fact[];
  /**
   * Facts BuildKit leaves out (or states only in its progress log, not its error) that kiln's
   * error states: the file:line where BuildKit 20.10 prints none, the exact missing piece.
   */
  kilnOnly: Fact[];
}

/** The base every case builds on, pushed to the registry under this repository. */
export const BASE_REPOSITORY = 'parity/busybox';

const BASE = `FROM {{REGISTRY}}/${BASE_REPOSITORY}\n`;

const fact = (what: string, pattern: RegExp): Fact => ({ what, pattern });

export const MISTAKES: Mistake[] = [
  {
    name: 'instruction-typo',
    title: 'an instruction name misspelt (RUNN)',
    files: { Dockerfile: `${BASE}RUNN echo hi\n` },
    shared: [fact('the line', /line 2/), fact('the instruction', /unknown instruction: RUNN/i)],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the suggestion', /did you mean RUN\?/)],
  },
  {
    name: 'unknown-flag',
    title: 'an unknown instruction flag (COPY --chwon)',
    files: { Dockerfile: `${BASE}COPY --chwon=1 a.txt /a.txt\n`, 'a.txt': 'a\n' },
    shared: [fact('the flag', /unknown flag: (--)?chwon/i)],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the instruction', /COPY/)],
  },
  {
    name: 'copy-missing-source',
    title: 'a COPY source that is not in the context',
    files: { Dockerfile: `${BASE}COPY missing.txt /missing.txt\n` },
    shared: [fact('the missing path', /missing\.txt/), fact('why', /not found|no such file/i)],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the instruction', /COPY missing\.txt/)],
  },
  {
    name: 'run-fails',
    title: 'a RUN that exits 3',
    files: { Dockerfile: `${BASE}RUN echo about to fail && exit 3\n` },
    shared: [
      fact('the command', /echo about to fail && exit 3/),
      fact('the exit code', /exit(ed with)? code:? 3\b/),
    ],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the output', /about to fail/)],
  },
  {
    name: 'base-not-in-registry',
    title: 'a base image the registry does not have',
    files: { Dockerfile: 'FROM {{REGISTRY}}/parity/nope:1\nRUN true\n' },
    shared: [fact('the reference', /\{\{REGISTRY\}\}\/parity\/nope:1/), fact('why', /not found/i)],
    kilnOnly: [fact('the file:line', /Dockerfile:1\b/)],
  },
  {
    name: 'registry-down',
    title: 'a base image on a registry that does not answer (port closed)',
    files: { Dockerfile: 'FROM 127.0.0.1:{{CLOSED_PORT}}/parity/busybox\nRUN true\n' },
    shared: [
      fact('the registry', /127\.0\.0\.1:\{\{CLOSED_PORT\}\}/),
      fact('why', /connection refused|ECONNREFUSED/i),
    ],
    kilnOnly: [fact('the file:line', /Dockerfile:1\b/), fact('the image', /parity\/busybox/)],
  },
  {
    name: 'platform-no-match',
    title: 'a base image without the platform FROM --platform asks for',
    files: { Dockerfile: 'FROM --platform=linux/s390x {{REGISTRY}}/parity/busybox\nRUN true\n' },
    shared: [fact('why', /no match|no manifest for/i)],
    kilnOnly: [
      fact('the platform', /linux\/s390x/),
      fact('the file:line', /Dockerfile:1\b/),
      fact('the image', /parity\/busybox/),
      fact('the platforms it has', /linux\/amd64.*linux\/arm64/s),
    ],
  },
  {
    name: 'bad-platform-flag',
    title: 'a --platform value that is not a platform',
    files: { Dockerfile: `${BASE}RUN true\n` },
    args: ['--platform', 'linux/amd64/v3/extra'],
    shared: [fact('the value', /linux\/amd64\/v3\/extra/), fact('why', /invalid|unknown|not a platform/i)],
    kilnOnly: [fact('the flag', /--platform/)],
  },
  {
    name: 'from-arg-missing',
    title: 'FROM $BASE (in braces) with the build-arg not given',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own expansion
    files: { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN true\n' },
    shared: [fact('the expression', /\$\{BASE\}/), fact('why', /blank|empty/i)],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the cure', /--build-arg BASE=/)],
  },
  {
    name: 'from-arg-missing-tag',
    title: 'FROM image:$TAG (in braces) with the build-arg not given',
    files: { Dockerfile: `ARG TAG\nFROM {{REGISTRY}}/${BASE_REPOSITORY}:\${TAG}\nRUN true\n` },
    shared: [
      fact('the reference as expanded', /\{\{REGISTRY\}\}\/parity\/busybox:["\s]/),
      fact('why', /invalid reference/i),
    ],
    kilnOnly: [fact('the file:line', /Dockerfile:2\b/), fact('the variable', /TAG/)],
  },
  {
    name: 'copy-from-unknown-stage',
    title: 'COPY --from naming a stage that does not exist (a typo of one that does)',
    files: {
      Dockerfile: `${BASE.replace('\n', ' AS build\n')}RUN echo hi > /x\n${BASE}COPY --from=biuld /x /x\n`,
    },
    shared: [fact('the name', /biuld/)],
    kilnOnly: [fact('the file:line', /Dockerfile:4\b/), fact('the stage it resembles', /build/)],
  },
  {
    name: 'unknown-target',
    title: '--target naming no stage',
    files: { Dockerfile: `${BASE.replace('\n', ' AS build\n')}RUN true\n` },
    args: ['--target', 'biuld'],
    shared: [fact('the target', /biuld/)],
    kilnOnly: [fact('the stages there are', /build/)],
  },
  {
    name: 'dockerfile-missing',
    title: '-f naming a Dockerfile that does not exist',
    files: { Dockerfile: `${BASE}RUN true\n` },
    args: ['-f', 'Dockerfile.prod'],
    shared: [fact('the path', /Dockerfile\.prod/), fact('why', /no such file|not found|ENOENT/i)],
    kilnOnly: [],
  },
  {
    name: 'dockerignore-directory',
    title: 'a .dockerignore that is a directory, not a file',
    files: { Dockerfile: `${BASE}COPY . /ctx\n`, 'a.txt': 'a\n' },
    dirs: ['.dockerignore'],
    shared: [fact('the file', /\.dockerignore/)],
    kilnOnly: [],
  },
];

/** Fill a case's placeholders for one run. */
export function fill(text: string, registry: string, closedPort: number): string {
  return text.replaceAll('{{REGISTRY}}', registry).replaceAll('{{CLOSED_PORT}}', String(closedPort));
}

/** Put the placeholders back into what a builder printed, so recordings and facts are stable. */
export function unfill(text: string, registry: string, closedPort: number, context: string): string {
  return text
    .replaceAll(context, '{{CONTEXT}}')
    .replaceAll(registry, '{{REGISTRY}}')
    .replaceAll(`127.0.0.1:${closedPort}`, '127.0.0.1:{{CLOSED_PORT}}');
}
