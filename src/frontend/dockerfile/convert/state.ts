/**
 * The per-stage state the converter threads through a stage's instructions (BuildKit's
 * dispatchState): the root filesystem so far, the image config being built, and the execution
 * context (env with ARG values, cwd, user) that RUN steps inherit but the image config does not.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import type { Vertex } from '../../../graph/index.ts';
import type { HistoryEntry, ImageConfig } from '../../../oci/config.ts';
import { DEFAULT_PATH } from '../../../oci/config.ts';
import { formatPlatform, type Platform } from '../../../oci/platform.ts';
import { isoSeconds } from '../../../sys/time.ts';
import type { Instruction, Stage } from '../instructions/types.ts';
import { type EnvGetter, ShellLex } from '../shell/lex.ts';

export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** One instruction to dispatch, with the stages it reads (COPY --from, RUN --mount from=). */
export interface Command {
  instruction: Instruction;
  sources: StageState[];
  /** The `--from` / `from=` words, parallel to `sources`. */
  froms: string[];
  isOnBuild: boolean;
}

export interface ArgValue {
  key: string;
  value?: string;
}

/** A `--build-context` standing in for a stage or an image. */
export interface NamedContext {
  /** The name it was given under (also the local source's name for directories). */
  key: string;
  /** `docker-image://ref`, or anything else for a local directory the engine knows by `key`. */
  spec: string;
  /** True when it replaces a stage of the same name (whose steps then do not run). */
  replacesStage: boolean;
}

export interface StageState {
  /** Position among all states (file order; image-only states for `--from=<image>` come after). */
  index: number;
  /** The parsed stage; undefined for an image named by COPY --from / RUN --mount from=. */
  stage?: Stage;
  /** Display name: the AS name, `stage-N`, or '' when the file has one stage. */
  stageName: string;
  /** Lower-cased AS name, for lookups. */
  name?: string;
  /** Base name after expanding meta ARGs. */
  baseName: string;
  location: SourceLocation;
  /** From `FROM --platform=`. */
  platform?: Platform;
  base?: StageState;
  deps: Set<StageState>;
  commands: Command[];
  cmdTotal: number;
  cmdIndex: number;
  cmdIsOnBuild: boolean;
  ignoreCache: boolean;
  resolved: boolean;
  dispatched: boolean;
  onBuildInit: boolean;
  /** Set by dispatch. */
  root: Vertex | null;
  image: ImageConfig;
  /** The execution environment (`KEY=VALUE`): image env plus ARG values in scope. */
  env: string[];
  cwd: string;
  user: string;
  buildArgs: ArgValue[];
  cmdSet: boolean;
  /** A WORKDIR of this Dockerfile set the directory (inherited from a base stage; WorkdirRelativePath). */
  workdirSet: boolean;
  /** Where this stage last used CMD, ENTRYPOINT and HEALTHCHECK (MultipleInstructionsDisallowed). */
  usedOnce: Map<string, SourceLocation>;
  namedContext?: NamedContext;
  /** SOURCE_DATE_EPOCH (unix seconds): history timestamps and file times. */
  epoch?: number;
  /** Context paths this stage reads (for the context source's followPaths). */
  ctxPaths: Set<string>;
}

export function newState(
  index: number,
  baseName: string,
  location: SourceLocation,
  stage?: Stage,
): StageState {
  return {
    index,
    stage,
    stageName: stage?.name ?? '',
    name: stage?.name,
    baseName,
    location,
    deps: new Set(),
    commands: [],
    cmdTotal: 0,
    cmdIndex: 0,
    cmdIsOnBuild: false,
    ignoreCache: false,
    resolved: false,
    dispatched: false,
    onBuildInit: false,
    root: null,
    image: emptyImage({ os: 'linux', architecture: 'amd64' }),
    env: [],
    cwd: '/',
    user: '',
    buildArgs: [],
    cmdSet: false,
    workdirSet: false,
    usedOnce: new Map(),
    ctxPaths: new Set(),
  };
}

/** The config of `FROM scratch` (BuildKit's emptyImage). */
export function emptyImage(p: Platform): ImageConfig {
  const img: ImageConfig = {
    architecture: p.architecture,
    os: p.os,
    rootfs: { type: 'layers', diff_ids: [] },
  };
  if (p.variant) img.variant = p.variant;
  if (p['os.version']) img['os.version'] = p['os.version'];
  img.config = { WorkingDir: '/', Env: [`PATH=${DEFAULT_PATH}`] };
  return img;
}

function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

/**
 * Where each key sits in a `KEY=VALUE` list, kept beside the list and extended as it grows: a
 * lookup or an update is then O(1), where scanning the list made 20,000 ENV lines take minutes.
 * `duplicates` (possible in a base image's Env) sends getEnv back to the scan, whose last
 * occurrence wins.
 */
interface EnvIndex {
  at: Map<string, number>;
  length: number;
  duplicates: boolean;
}

const envIndexes = new WeakMap<readonly string[], EnvIndex>();

function envIndex(list: readonly string[], rebuild = false): EnvIndex {
  let ix = envIndexes.get(list);
  if (!ix || rebuild || ix.length > list.length) {
    ix = { at: new Map(), length: 0, duplicates: false };
    envIndexes.set(list, ix);
  }
  for (; ix.length < list.length; ix.length++) {
    const k = envKey(list[ix.length]!);
    if (ix.at.has(k)) ix.duplicates = true;
    else ix.at.set(k, ix.length);
  }
  return ix;
}

/** The position of KEY's first occurrence, or -1 (an index gone stale is rebuilt). */
function findEnv(list: readonly string[], key: string): number {
  let i = envIndex(list).at.get(key);
  if (i !== undefined && envKey(list[i]!) !== key) i = envIndex(list, true).at.get(key);
  return i ?? -1;
}

/**
 * Set KEY in a `KEY=VALUE` list, replacing in place (BuildKit's addEnv). The list itself is
 * updated and returned: a stage owns its lists (a new stage copies its base's, and exec ops copy
 * the env they are given), and copying them for every ENV made long Dockerfiles quadratic.
 */
export function setEnv(list: string[], key: string, value: string): string[] {
  const i = findEnv(list, key);
  if (i >= 0) list[i] = `${key}=${value}`;
  else list.push(`${key}=${value}`);
  return list;
}

export function getEnv(list: readonly string[], key: string): string | undefined {
  if (envIndex(list).duplicates) {
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      if (envKey(e) === key) return e.includes('=') ? e.slice(e.indexOf('=') + 1) : '';
    }
    return undefined;
  }
  const i = findEnv(list, key);
  if (i < 0) return undefined;
  const e = list[i]!;
  return e.includes('=') ? e.slice(e.indexOf('=') + 1) : '';
}

/** A `KEY=VALUE` list as the lexer's variable source, looked up through the index. */
export function envGetter(list: readonly string[]): EnvGetter {
  return { get: (key) => getEnv(list, key) };
}

/** Append a history entry (BuildKit's commitToHistory); `buildkit` marks steps that made a vertex. */
export function commitHistory(d: StageState, message: string, withLayer: boolean, madeVertex = false): void {
  const entry: HistoryEntry = {
    created_by: madeVertex ? `${message} # buildkit` : message,
    comment: HISTORY_COMMENT,
  };
  if (d.epoch !== undefined) entry.created = isoSeconds(d.epoch * 1000);
  if (!withLayer) entry.empty_layer = true;
  // In place: the stage owns its image config (see setEnv).
  (d.image.history ??= []).push(entry);
}

/** `RUN` history text with the build args in scope: `|2 A=1 B=2 /bin/sh -c make`. */
export function runCommandString(args: readonly string[], d: StageState): string {
  const keys: string[] = [];
  const values = new Map<string, string>();
  for (const a of d.buildArgs) {
    const v = getEnv(d.env, a.key) ?? a.value ?? '';
    if (!values.has(a.key)) keys.push(a.key);
    values.set(a.key, v);
  }
  const parts = keys.map((k) => `${k}=${values.get(k)}`);
  if (parts.length > 0) parts.unshift(`|${parts.length}`);
  return [...parts, ...args].join(' ');
}

/** Upper-case the instruction keyword of a description. */
export function uppercaseCmd(s: string): string {
  const i = s.indexOf(' ');
  return i < 0 ? s.toUpperCase() : s.slice(0, i).toUpperCase() + s.slice(i);
}

/** Expand variables in a description; on a syntax error show it as written. */
export function processCmdEnv(lex: ShellLex, text: string, env: readonly string[]): string {
  try {
    return lex.processWord(text, envGetter(env));
  } catch {
    return text;
  }
}

/** A lexer for descriptions of RUN lines: quotes kept, unset variables left as written. */
export function runDescriptionLex(escapeToken: string): ShellLex {
  return new ShellLex(escapeToken, { rawQuotes: true, skipUnsetEnv: true });
}

/** `[stage-1 3/5] RUN make` (BuildKit's prefixCommand); advances the step counter. */
export function prefixCommand(
  d: StageState,
  text: string,
  platformPrefix: boolean,
  platform?: Platform,
): string {
  if (d.cmdTotal === 0) return text;
  let out = '[';
  if (platformPrefix && platform) out += `${formatPlatform(platform)} `;
  if (d.stageName !== '') out += `${d.stageName} `;
  d.cmdIndex++;
  const width = 1 + Math.floor(Math.log10(d.cmdTotal));
  out += `${String(d.cmdIndex).padStart(width, ' ')}/${d.cmdTotal}] `;
  if (d.cmdIsOnBuild) out += 'ONBUILD ';
  return out + text;
}

/** Does this instruction produce a numbered step (a vertex)? */
export function countsAsStep(i: Instruction): boolean {
  return i.kind === 'RUN' || i.kind === 'COPY' || i.kind === 'ADD' || i.kind === 'WORKDIR';
}
