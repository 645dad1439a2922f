/**
 * Dispatch of the instructions that only change the image config or the execution context
 * (ENV, ARG, USER, WORKDIR, LABEL, CMD, ...), each recording history the way BuildKit does.
 * COPY/ADD live in copy.ts and RUN in run.ts.
 */
import { KilnError } from '../../../errors/errors.ts';
import { file, type Vertex } from '../../../graph/index.ts';
import type { ContainerConfig, HealthConfig as HealthConfigJson } from '../../../oci/config.ts';
import type { Platform } from '../../../oci/platform.ts';
import { legacyKeyValueFormat, multipleInstructions, workdirRelativePath } from '../checks/dispatch.ts';
import { finding, MESSAGES, writtenName } from '../checks/rules.ts';
import type {
  ArgCommand,
  CmdCommand,
  EntrypointCommand,
  ExposeCommand,
  HealthCheckCommand,
  Instruction,
  WorkdirCommand,
} from '../instructions/types.ts';
import type { ShellLex } from '../shell/lex.ts';
import { exposeLint, parsePorts } from './expose.ts';
import { goHealth, goList, goQuoteList } from './gofmt.ts';
import { normalizeWorkdir } from './paths.ts';
import { checkSecretKey } from './secrets-lint.ts';
import {
  commitHistory,
  envGetter,
  getEnv,
  prefixCommand,
  processCmdEnv,
  type StageState,
  setEnv,
  uppercaseCmd,
} from './state.ts';
import type { ConvertWarning, RunSettings } from './types.ts';

/** What dispatchers share across stages. */
export interface DispatchContext {
  lex: ShellLex;
  escapeToken: string;
  /** `--build-arg` values as given. */
  buildArgs: Readonly<Record<string, string>>;
  /** Meta ARGs and automatic platform args (`KEY=VALUE`). */
  globalArgs: readonly string[];
  targetPlatform: Platform;
  multiPlatform: boolean;
  context: Vertex;
  warnings: ConvertWarning[];
  /** Build args some reachable ARG declared. */
  usedArgs: Set<string>;
  /** SOURCE_DATE_EPOCH, when the build sets it. */
  epoch?: number;
  /** Environment entries the RUN steps so far carry in total (see MAX_RUN_ENV). */
  runEnv?: number;
  /** The build's settings for every RUN (`--add-host`, `--shm-size`, …). */
  run?: RunSettings;
  /** .dockerignore patterns of the context (the CopyIgnoredFile check reads them). */
  dockerignore?: readonly string[];
}

/**
 * Every RUN carries the whole environment, so ENV and RUN lines together grow the graph
 * quadratically (12,500 of each took 18 s and 870 MiB): the sum over RUN steps is capped,
 * about 100 times what a large real Dockerfile (200 RUNs over 200 variables) needs.
 */
export const MAX_RUN_ENV = 4_000_000;

/** Count `d`'s environment against MAX_RUN_ENV for one more RUN. */
export function chargeRunEnv(d: StageState, ctx: DispatchContext): void {
  ctx.runEnv = (ctx.runEnv ?? 0) + d.env.length;
  if (ctx.runEnv > MAX_RUN_ENV) {
    throw new KilnError(
      'DOCKERFILE_TOO_LARGE',
      `the RUN steps carry more than ${MAX_RUN_ENV} environment variables in total (each RUN gets the whole environment, here ${d.env.length})`,
      { hint: 'set fewer variables with ENV and ARG, or use fewer RUN steps' },
    );
  }
}

/** ARG names that never go into the RUN environment. */
export const NON_ENV_ARGS = new Set([
  'SOURCE_DATE_EPOCH',
  'BUILDKIT_SBOM_SCAN_CONTEXT',
  'BUILDKIT_SBOM_SCAN_STAGE',
]);

export function config(d: StageState): ContainerConfig {
  d.image.config ??= {};
  return d.image.config;
}

export function defaultShell(os: string): string[] {
  return os === 'windows' ? ['cmd', '/S', '/C'] : ['/bin/sh', '-c'];
}

export function withShell(d: StageState, args: readonly string[]): string[] {
  const shell = d.image.config?.Shell?.length ? [...d.image.config.Shell] : defaultShell(d.image.os);
  return [...shell, args.join(' ')];
}

export function dispatchArg(d: StageState, c: ArgCommand, ctx: DispatchContext): void {
  const commits: string[] = [];
  for (const arg of c.args) {
    checkSecretKey('ARG', arg.key, c.location, ctx.warnings);
    const hasValue = Object.hasOwn(ctx.buildArgs, arg.key);
    let value = arg.value;
    let hasDefault = value !== undefined;
    if (!hasDefault && !hasValue) {
      // An ARG without a default inherits the global (meta or automatic) value.
      const g = globalValue(ctx.globalArgs, arg.key);
      if (g !== undefined) {
        value = g;
        hasDefault = false;
      }
    }
    if (hasValue) value = ctx.buildArgs[arg.key];
    else if (hasDefault && value !== undefined) value = ctx.lex.processWord(value, envGetter(d.env));
    if (value !== undefined && !NON_ENV_ARGS.has(arg.key)) d.env = setEnv(d.env, arg.key, value);
    ctx.usedArgs.add(arg.key);
    d.buildArgs.push({ key: arg.key, value });
    commits.push(value === undefined ? arg.key : `${arg.key}=${value}`);
  }
  commitHistory(d, `ARG ${commits.join(' ')}`, false);
}

export function globalValue(list: readonly string[], key: string): string | undefined {
  return getEnv(list, key);
}

export function dispatchWorkdir(
  d: StageState,
  c: WorkdirCommand,
  ctx: DispatchContext,
  platform: Platform,
): void {
  const rel = workdirRelativePath(c.path, d.workdirSet, c.location);
  if (rel) ctx.warnings.push(rel);
  d.workdirSet = true;
  const wd = normalizeWorkdir(config(d).WorkingDir ?? '', c.path);
  config(d).WorkingDir = wd;
  d.cwd = wd;
  let withLayer = false;
  if (wd !== '/') {
    const text = prefixCommand(
      d,
      uppercaseCmd(processCmdEnv(ctx.lex, c.original, d.env)),
      ctx.multiPlatform,
      platform,
    );
    const user = config(d).User;
    d.root = file(
      d.root,
      [
        {
          action: 'mkdir',
          path: wd,
          mode: 0o755,
          makeParents: true,
          chown: user ? chownOf(user) : undefined,
          createdTime: ctx.epoch,
        },
      ],
      { platform },
      { description: text, location: c.location, ignoreCache: d.ignoreCache || undefined },
    );
    withLayer = true;
  }
  commitHistory(d, `WORKDIR ${wd}`, withLayer);
}

/** `user[:group]` → a ChownSpec. */
export function chownOf(spec: string): { user: string; group?: string } {
  const i = spec.indexOf(':');
  return i < 0 ? { user: spec } : { user: spec.slice(0, i), group: spec.slice(i + 1) };
}

/** BuildKit's JSONArgsRecommended check: shell-form CMD/ENTRYPOINT without a SHELL. */
function checkJsonArgs(d: StageState, c: CmdCommand | EntrypointCommand, ctx: DispatchContext): void {
  if (c.prependShell && !d.image.config?.Shell?.length) {
    ctx.warnings.push(
      finding('JSONArgsRecommended', MESSAGES.JSONArgsRecommended(writtenName(c)), c.location),
    );
  }
}

/** MultipleInstructionsDisallowed: a second CMD, ENTRYPOINT or HEALTHCHECK in a stage. */
function checkUsedOnce(d: StageState, c: Instruction, ctx: DispatchContext): void {
  const f = multipleInstructions(d.usedOnce, c.kind, writtenName(c), c.location);
  if (f) ctx.warnings.push(f);
}

function dispatchCmd(d: StageState, c: CmdCommand, ctx: DispatchContext): void {
  checkUsedOnce(d, c, ctx);
  checkJsonArgs(d, c, ctx);
  const args = c.prependShell ? withShell(d, c.cmdLine) : [...c.cmdLine];
  config(d).Cmd = args;
  config(d).ArgsEscaped = true;
  d.cmdSet = true;
  commitHistory(d, `CMD ${goQuoteList(args)}`, false);
}

function dispatchEntrypoint(d: StageState, c: EntrypointCommand, ctx: DispatchContext): void {
  checkUsedOnce(d, c, ctx);
  checkJsonArgs(d, c, ctx);
  const args = c.prependShell ? withShell(d, c.cmdLine) : [...c.cmdLine];
  config(d).Entrypoint = args;
  if (!d.cmdSet) config(d).Cmd = null;
  commitHistory(d, `ENTRYPOINT ${goQuoteList(args)}`, false);
}

function dispatchHealthcheck(d: StageState, c: HealthCheckCommand, ctx: DispatchContext): void {
  checkUsedOnce(d, c, ctx);
  const h = c.health;
  // Docker's HealthConfig omits zero durations and retries (omitempty).
  const hc: HealthConfigJson = { Test: [...h.test] };
  if (h.interval) hc.Interval = h.interval;
  if (h.timeout) hc.Timeout = h.timeout;
  if (h.startPeriod) hc.StartPeriod = h.startPeriod;
  if (h.startInterval) hc.StartInterval = h.startInterval;
  if (h.retries) hc.Retries = h.retries;
  config(d).Healthcheck = hc;
  commitHistory(d, `HEALTHCHECK ${goHealth(h)}`, false);
}

function dispatchExpose(d: StageState, c: ExposeCommand, ctx: DispatchContext): void {
  const ports = c.ports; // already expanded and split
  for (const p of ports) for (const w of exposeLint(p)) ctx.warnings.push({ ...w, location: c.location });
  const parsed = parsePorts(ports);
  const exposed = (config(d).ExposedPorts ??= {});
  for (const p of parsed) exposed[p] = {};
  commitHistory(d, `EXPOSE ${goList(parsed)}`, false);
}

/**
 * Go marshals maps with sorted keys: the config's sets and maps get that order once a stage's
 * instructions are dispatched (LABEL, VOLUME and EXPOSE only add to them).
 */
export function sortConfigMaps(d: StageState): void {
  const c = d.image.config;
  if (!c) return;
  if (c.Labels) c.Labels = sortedMap(c.Labels);
  if (c.Volumes) c.Volumes = sortedMap(c.Volumes);
  if (c.ExposedPorts) c.ExposedPorts = sortedMap(c.ExposedPorts);
}

function sortedMap<T>(m: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  );
}

const SIGNALS = new Set(
  'ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU UNUSED URG USR1 USR2 VTALRM WINCH XCPU XFSZ'.split(
    ' ',
  ),
);

/** Docker's signal.ParseSignal: a number, `SIGNAME`/`NAME`, or `RTMIN+n`/`RTMAX-n`. */
function validSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) > 0;
  const name = s.toUpperCase().replace(/^SIG/, '');
  return SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

function invalidInstruction(message: string, hint: string): KilnError {
  return new KilnError('DOCKERFILE_INVALID_INSTRUCTION', message, { hint });
}

/** Config-only instructions. Returns false for the ones this module does not handle. */
export function dispatchConfigInstruction(d: StageState, c: Instruction, ctx: DispatchContext): boolean {
  switch (c.kind) {
    case 'ENV': {
      let env = config(d).Env ?? [];
      for (const kv of c.env) {
        ctx.warnings.push(...legacyKeyValueFormat(writtenName(c), [kv], c.location));
        checkSecretKey('ENV', kv.key, c.location, ctx.warnings);
        d.env = setEnv(d.env, kv.key, kv.value);
        env = setEnv(env, kv.key, kv.value);
      }
      config(d).Env = env;
      commitHistory(d, `ENV ${c.env.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`, false);
      return true;
    }
    case 'LABEL': {
      // Sorted once the stage is dispatched (sortConfigMaps): sorting at every LABEL was cubic.
      const labels = (config(d).Labels ??= {});
      ctx.warnings.push(...legacyKeyValueFormat(writtenName(c), c.labels, c.location));
      for (const kv of c.labels) labels[kv.key] = kv.value;
      commitHistory(d, `LABEL ${c.labels.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`, false);
      return true;
    }
    case 'MAINTAINER':
      d.image.author = c.maintainer;
      commitHistory(d, `MAINTAINER ${c.maintainer}`, false);
      return true;
    case 'USER':
      d.user = c.user;
      config(d).User = c.user;
      commitHistory(d, `USER ${c.user}`, false);
      return true;
    case 'VOLUME': {
      for (const v of c.volumes) {
        if (v === '')
          throw invalidInstruction('VOLUME specified can not be an empty string', 'give VOLUME a path');
      }
      const volumes = (config(d).Volumes ??= {});
      for (const v of c.volumes) volumes[v] = {};
      commitHistory(d, `VOLUME ${goList(c.volumes)}`, false);
      return true;
    }
    case 'STOPSIGNAL':
      if (!validSignal(c.signal)) {
        throw invalidInstruction(
          `invalid signal: ${c.signal}`,
          'use a signal name such as SIGTERM or a number',
        );
      }
      config(d).StopSignal = c.signal;
      commitHistory(d, `STOPSIGNAL ${c.signal}`, false);
      return true;
    case 'SHELL':
      config(d).Shell = [...c.shell];
      commitHistory(d, `SHELL ${goList(c.shell)}`, false);
      return true;
    case 'ONBUILD':
      config(d).OnBuild = [...(config(d).OnBuild ?? []), c.expression];
      return true;
    case 'CMD':
      dispatchCmd(d, c, ctx);
      return true;
    case 'ENTRYPOINT':
      dispatchEntrypoint(d, c, ctx);
      return true;
    case 'HEALTHCHECK':
      dispatchHealthcheck(d, c, ctx);
      return true;
    case 'EXPOSE':
      dispatchExpose(d, c, ctx);
      return true;
    case 'ARG':
      dispatchArg(d, c, ctx);
      return true;
    default:
      return false;
  }
}
