/**
 * Typed instructions made as values, for frontends that are not Dockerfile text (the YAML
 * file, the TypeScript builder). Words are passed through `literalWord`, so a value is taken as
 * it is except for `$NAME` references; `original` is written as the same Dockerfile line would
 * read, because history and step names are made from it.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { parseMounts, RunFlagError } from './runmount.ts';
import type {
  AddCommand,
  ArgCommand,
  CmdCommand,
  CopyCommand,
  EntrypointCommand,
  EnvCommand,
  ExposeCommand,
  FromCommand,
  Instruction,
  KeyValuePair,
  LabelCommand,
  RunCommand,
  Stage,
  UserCommand,
  WorkdirCommand,
} from './types.ts';

/** A value as a Dockerfile word: quotes and backslashes literal; `$NAME`, `${NAME}` and `\$` kept. */
export function literalWord(v: string | number | boolean): string {
  return String(v).replace(/\\(?!\$)|['"]/g, '\\$&');
}

/** How a pair reads in history (`A=1`, `B="x y"`), as in the Dockerfile line that would set it. */
function pairText(k: string, v: string): string {
  return /^[^\s"'\\]*$/.test(v) ? `${k}=${v}` : `${k}=${JSON.stringify(v)}`;
}

const base = (location: SourceLocation, original: string, flagsUsed: string[] = []) => ({
  location,
  original,
  flagsUsed,
});

export function makeStage(
  name: string,
  baseName: string,
  instructions: Instruction[],
  location: SourceLocation,
  index: number,
): Stage {
  const original = `FROM ${baseName} AS ${name}`;
  const from: FromCommand = { kind: 'FROM', baseName, name, location, original, flagsUsed: [] };
  return { name, baseName, instructions, location, original, docComment: '', index, from };
}

/**
 * A `--mount=` value from fields: each `key=value` is one CSV field (quoted when it holds a comma
 * or a quote), its value a literal word, so no value can add a field or a flag of its own.
 */
export function makeMountSpec(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => {
      const f = `${k}=${literalWord(v)}`;
      return /[",]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f;
    })
    .join(',');
}

/** Mounts as the parser would have them; a bad spec is reported, with its place, when expanded. */
function mountsOf(specs: string[]): RunCommand['mounts'] {
  try {
    return parseMounts(specs);
  } catch (err) {
    if (err instanceof RunFlagError) return [];
    throw err;
  }
}

/** A shell-form RUN; `mountSpecs` as `--mount=` values (`makeMountSpec`). */
export function makeRun(cmd: string, location: SourceLocation, mountSpecs: string[] = []): RunCommand {
  const flags = mountSpecs.map((m) => `--mount=${m} `).join('');
  return {
    kind: 'RUN',
    ...base(location, `RUN ${flags}${cmd}`, mountSpecs.length ? ['mount'] : []),
    cmdLine: [cmd],
    files: [],
    prependShell: true,
    mountSpecs,
    mounts: mountsOf(mountSpecs),
    devices: [],
  };
}

/** CMD or ENTRYPOINT: a string is the shell form, a list the exec form. */
export function makeCommand(
  kind: 'CMD' | 'ENTRYPOINT',
  c: string | readonly string[],
  location: SourceLocation,
): CmdCommand | EntrypointCommand {
  const shell = typeof c === 'string';
  const original = `${kind} ${shell ? c : JSON.stringify(c)}`;
  return { kind, ...base(location, original), cmdLine: shell ? [c] : [...c], files: [], prependShell: shell };
}

export function makeArg(key: string, value: string | undefined, location: SourceLocation): ArgCommand {
  return {
    kind: 'ARG',
    ...base(location, value === undefined ? `ARG ${key}` : `ARG ${pairText(key, value)}`),
    args: [{ key, value: value === undefined ? undefined : literalWord(value), docComment: '' }],
    required: false,
  };
}

const pairs = (entries: readonly (readonly [string, string])[]): KeyValuePair[] =>
  entries.map(([key, v]) => ({ key, value: literalWord(v), noDelim: false }));
const pairsText = (entries: readonly (readonly [string, string])[]) =>
  entries.map(([k, v]) => pairText(k, v)).join(' ');

export function makeEnv(
  entries: readonly (readonly [string, string])[],
  location: SourceLocation,
): EnvCommand {
  return { kind: 'ENV', ...base(location, `ENV ${pairsText(entries)}`), env: pairs(entries) };
}

export function makeLabel(
  entries: readonly (readonly [string, string])[],
  location: SourceLocation,
): LabelCommand {
  return { kind: 'LABEL', ...base(location, `LABEL ${pairsText(entries)}`), labels: pairs(entries) };
}

export function makeWorkdir(path: string, location: SourceLocation): WorkdirCommand {
  return { kind: 'WORKDIR', ...base(location, `WORKDIR ${path}`), path: literalWord(path) };
}

export function makeUser(user: string, location: SourceLocation): UserCommand {
  return { kind: 'USER', ...base(location, `USER ${user}`), user: literalWord(user) };
}

export function makeExpose(ports: readonly (string | number)[], location: SourceLocation): ExposeCommand {
  const words = ports.map((p) => String(p));
  // Sorted as the Dockerfile parser sorts them (BuildKit does), so history reads the same.
  return {
    kind: 'EXPOSE',
    ...base(location, `EXPOSE ${words.join(' ')}`),
    ports: words.map(literalWord).sort(),
  };
}

export interface CopySpec {
  srcs: readonly string[];
  dst: string;
  /** A stage name, named context or image reference; absent: the build context. */
  from?: string;
  chown?: string;
  chmod?: string;
  link?: boolean;
}

export function makeCopy(c: CopySpec, location: SourceLocation): CopyCommand {
  const flags = [
    ...(c.from ? [`--from=${c.from}`] : []),
    ...(c.chown ? [`--chown=${c.chown}`] : []),
    ...(c.chmod ? [`--chmod=${c.chmod}`] : []),
    ...(c.link ? ['--link'] : []),
  ];
  return {
    kind: 'COPY',
    ...base(
      location,
      ['COPY', ...flags, ...c.srcs, c.dst].join(' '),
      flags.map((f) => f.slice(2).replace(/=.*/, '')),
    ),
    sourcesAndDest: {
      destPath: literalWord(c.dst),
      sourcePaths: c.srcs.map(literalWord),
      sourceContents: [],
    },
    chown: c.chown === undefined ? undefined : literalWord(c.chown),
    chmod: c.chmod === undefined ? undefined : literalWord(c.chmod),
    link: c.link ?? false,
    excludePatterns: [],
    from: c.from,
    parents: false,
  };
}

/** ADD of a URL: checked against `checksum`, unpacked (an archive) or given `chmod`. */
export function makeAddUrl(
  url: string,
  dest: string,
  opts: { checksum?: string; unpack?: boolean; chmod?: string },
  location: SourceLocation,
): AddCommand {
  const flags = [
    ...(opts.checksum ? [`--checksum=${opts.checksum}`] : []),
    ...(opts.unpack ? ['--unpack=true'] : []),
    ...(opts.chmod ? [`--chmod=${opts.chmod}`] : []),
  ];
  return {
    kind: 'ADD',
    ...base(
      location,
      ['ADD', ...flags, url, dest].join(' '),
      flags.map((f) => f.slice(2).replace(/=.*/, '')),
    ),
    sourcesAndDest: { destPath: dest, sourcePaths: [url], sourceContents: [] },
    chmod: opts.chmod,
    link: false,
    excludePatterns: [],
    checksum: opts.checksum,
    unpack: opts.unpack,
  };
}
