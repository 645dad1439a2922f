/**
 * Instructions → build graph, the heart of BuildKit's dockerfile2llb: meta ARGs, the two passes
 * that settle the build context's followPaths, stage dispatch (expansion, then one dispatcher per
 * instruction), the unused build-arg warning, and the target's final image config.
 */
import { definition, localSource, type Vertex } from '../../../graph/index.ts';
import type { ImageConfig } from '../../../oci/config.ts';
import { DEFAULT_PATH } from '../../../oci/config.ts';
import { normalizePlatform, type Platform, platformArgs } from '../../../oci/platform.ts';
import { invalidDefaultArgInFrom } from '../checks/from.ts';
import { finding, MESSAGES } from '../checks/rules.ts';
import { expandInstruction } from '../instructions/expand.ts';
import { closest } from '../instructions/suggest.ts';
import type { DockerfileInstructions, Instruction } from '../instructions/types.ts';
import { ShellLex } from '../shell/lex.ts';
import { dispatchCopy } from './copy.ts';
import {
  type DispatchContext,
  dispatchConfigInstruction,
  dispatchWorkdir,
  globalValue,
  NON_ENV_ARGS,
  sortConfigMaps,
} from './dispatch.ts';
import { buildStates, convertError, located, resolveStages } from './plan.ts';
import { dispatchRun } from './run.ts';
import { type ArgValue, type Command, envGetter, getEnv, type StageState, setEnv } from './state.ts';
import type { ConvertInstructionsOptions, ConvertOptions, ConvertResult, ConvertWarning } from './types.ts';

/** Build args that need no ARG declaration (docker's predefined proxy args, BuildKit's own). */
const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
  'SOURCE_DATE_EPOCH',
]);

/** BuildKit's defaultArgs: the automatic platform args and TARGETSTAGE, overridable by --build-arg. */
function defaultArgs(opts: ConvertOptions, targetName: string): string[] {
  const all: Record<string, string> = {
    ...platformArgs('BUILD', opts.buildPlatform),
    ...platformArgs('TARGET', opts.platform),
    TARGETSTAGE: targetName,
  };
  let env: string[] = [];
  for (const [k, v] of Object.entries(all)) env = setEnv(env, k, opts.buildArgs?.[k] ?? v);
  return env;
}

/** The result of one full dispatch with a given context source. */
interface Pass {
  target: StageState;
  ctxPaths: Set<string>;
  warnings: ConvertWarning[];
  epoch?: number;
}

/**
 * Convert already-parsed instructions. The build context's followPaths depend on every COPY in
 * every reachable stage, so a first pass collects them and a second pass builds the final graph
 * (resolver answers are cached between the passes).
 */
export async function convertInstructions(
  df: DockerfileInstructions,
  opts: ConvertInstructionsOptions,
): Promise<ConvertResult> {
  const cache = new Map<string, Promise<{ ref: string; config: ImageConfig }>>();
  const resolver = {
    resolveImageConfig(ref: string, platform: Platform) {
      const key = `${ref} ${JSON.stringify(normalizePlatform(platform))}`;
      let p = cache.get(key);
      if (!p) {
        p = opts.resolver.resolveImageConfig(ref, platform);
        cache.set(key, p);
      }
      return p;
    },
  };
  const contextName = opts.contextName ?? 'context';
  const excludes = [...(opts.dockerignore ?? [])];
  const meta = { description: '[internal] load build context' };
  const first = await runPass(
    df,
    { ...opts, resolver },
    localSource(contextName, { excludePatterns: excludes }, meta),
  );
  const follow = [...first.ctxPaths].includes('/')
    ? []
    : [...first.ctxPaths].map((p) => p.replace(/^\/+/, '') || '.');
  const ctx = localSource(contextName, { excludePatterns: excludes, followPaths: follow }, meta);
  const pass = follow.length === 0 ? first : await runPass(df, { ...opts, resolver }, ctx);
  const t = pass.target;
  const config = finalizeConfig(t, opts);
  return {
    definition: definition({ default: { root: t.root, config } }),
    root: t.root,
    config,
    target: t.stageName || t.name || `stage-${t.index}`,
    warnings: pass.warnings,
    sourceDateEpoch: pass.epoch,
  };
}

function finalizeConfig(t: StageState, opts: ConvertOptions): ImageConfig {
  const img = structuredClone(t.image);
  if (opts.labels && Object.keys(opts.labels).length > 0) {
    const labels: Record<string, string> = { ...(img.config?.Labels ?? {}), ...opts.labels };
    img.config = {
      ...(img.config ?? {}),
      Labels: Object.fromEntries(
        Object.keys(labels)
          .sort()
          .map((k) => [k, labels[k]]),
      ),
    };
  }
  const p = normalizePlatform(opts.platform);
  const same = img.os === p.os && img.architecture === p.architecture;
  img.os = p.os;
  img.architecture = p.architecture;
  if (p.variant || !same) {
    if (p.variant) img.variant = p.variant;
    else delete img.variant;
  }
  delete img.created;
  return img;
}

async function runPass(
  df: DockerfileInstructions,
  opts: ConvertInstructionsOptions,
  context: Vertex,
): Promise<Pass> {
  if (df.stages.length === 0) {
    throw convertError(
      'DOCKERFILE_NO_STAGES',
      'dockerfile contains no stages to build',
      'add a FROM instruction',
    );
  }
  const lex = new ShellLex(df.escapeToken);
  const buildArgs = opts.buildArgs ?? {};
  const targetName = opts.target ?? df.stages[df.stages.length - 1].name ?? '';
  let globalArgs = defaultArgs(opts, targetName);
  const usedArgs = new Set<string>();
  const warnings: ConvertWarning[] = df.warnings.map((w) =>
    finding('NoEmptyContinuation', MESSAGES.NoEmptyContinuation(), w.location),
  );
  warnings.push(...(opts.earlyWarnings ?? []));
  checkDefaultBaseNames(df, lex, globalArgs, warnings);

  // Meta ARGs (before the first FROM): scoped to FROM lines and re-declarations in stages.
  for (const cmd of df.metaArgs) {
    for (const kv of cmd.args) {
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, kv.key)) value = buildArgs[kv.key];
      else if (kv.value !== undefined) {
        try {
          value = lex.processWord(kv.value, envGetter(globalArgs));
        } catch (err) {
          throw located(err, cmd.location);
        }
      }
      if (value !== undefined) globalArgs = setEnv(globalArgs, kv.key, value);
      usedArgs.add(kv.key);
    }
  }

  const dsp = buildStates(df, opts, lex, globalArgs, warnings);
  const epochText = buildArgs.SOURCE_DATE_EPOCH ?? globalValue(globalArgs, 'SOURCE_DATE_EPOCH') ?? '';
  let epoch: number | undefined;
  if (epochText !== '') {
    if (!/^\d+$/.test(epochText)) {
      throw convertError(
        'DOCKERFILE_INVALID_EPOCH',
        `invalid SOURCE_DATE_EPOCH: ${epochText}`,
        'give SOURCE_DATE_EPOCH as unix seconds, e.g. $(git log -1 --format=%ct)',
      );
    }
    epoch = Number(epochText);
  }
  const ctx: DispatchContext = {
    dockerignore: opts.dockerignore,
    epoch,
    lex,
    escapeToken: df.escapeToken,
    buildArgs,
    globalArgs,
    targetPlatform: opts.platform,
    multiPlatform: opts.multiPlatform ?? false,
    context,
    warnings,
    usedArgs,
    run: opts.run,
  };

  const reachable = await resolveStages(dsp, opts, ctx);
  const ctxPaths = new Set<string>();
  for (const d of dsp.states) {
    // A check (`--check`) without a target dispatches every stage, as BuildKit's lint does.
    if (!(opts.allStages || reachable.has(d)) || d.dispatched) continue;
    dispatchStage(d, ctx, opts);
    for (const p of d.ctxPaths) ctxPaths.add(p);
  }

  const unused = Object.keys(buildArgs)
    .filter((k) => !usedArgs.has(k) && !BUILTIN_ARGS.has(k))
    .filter((k) => !/^(BUILD|TARGET)(PLATFORM|OS|ARCH|VARIANT)$|^TARGETSTAGE$|^BUILDKIT_/.test(k))
    .sort();
  if (unused.length > 0) {
    warnings.push({
      rule: 'UnusedBuildArg',
      message: `one or more build-args [${unused.join(' ')}] were not consumed`,
    });
  }
  return { target: dsp.target, ctxPaths, warnings, epoch };
}

/**
 * InvalidDefaultArgInFrom: expand each FROM with the meta ARGs' defaults alone (no --build-arg),
 * as BuildKit's validateBaseImagesWithDefaultArgs; a default that fails to expand is left to the
 * build to report.
 */
function checkDefaultBaseNames(
  df: DockerfileInstructions,
  lex: ShellLex,
  globalArgs: string[],
  warnings: ConvertWarning[],
): void {
  let env = globalArgs;
  try {
    for (const cmd of df.metaArgs) {
      for (const kv of cmd.args) {
        if (kv.value !== undefined) env = setEnv(env, kv.key, lex.processWord(kv.value, envGetter(env)));
      }
    }
  } catch {
    return;
  }
  for (const st of df.stages) {
    const f = invalidDefaultArgInFrom(st.baseName, (w) => lex.processWord(w, envGetter(env)), st.location);
    if (f) warnings.push(f);
  }
}

/** Inherit from a base stage (BuildKit's dispatchState.init). */
function initFromBase(d: StageState): void {
  const b = d.base!;
  d.root = b.root;
  d.platform = b.platform;
  d.image = structuredClone(b.image);
  if (d.image.config) d.image.config.OnBuild = null;
  d.env = [...b.env];
  d.cwd = b.cwd;
  d.user = b.user;
  d.buildArgs = [...b.buildArgs];
  d.workdirSet = b.workdirSet;
}

function dispatchStage(d: StageState, ctx: DispatchContext, opts: ConvertOptions): void {
  if (d.base) initFromBase(d);
  d.dispatched = true;
  d.epoch = ctx.epoch;
  const platform = d.platform ?? opts.platform;
  d.platform = platform;
  const cfg = (d.image.config ??= {});
  if (getEnv(cfg.Env ?? [], 'PATH') === undefined && platform.os !== 'windows')
    cfg.Env = [...(cfg.Env ?? []), `PATH=${DEFAULT_PATH}`];
  for (const e of cfg.Env ?? []) {
    const i = e.indexOf('=');
    d.env = setEnv(d.env, i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  if (cfg.WorkingDir) d.cwd = cfg.WorkingDir;
  if (cfg.User) d.user = cfg.User;

  for (const cmd of d.commands) {
    const ins = cmd.instruction;
    try {
      d.cmdIsOnBuild = cmd.isOnBuild;
      const unmatched = new Set<string>();
      const track = <T extends { unmatched: Set<string> }>(r: T): T => {
        for (const k of r.unmatched) unmatched.add(k);
        return r;
      };
      const env = envGetter(d.env);
      const expand = (w: string): string => track(ctx.lex.processWordWithMatches(w, env)).result;
      const rawLex = new ShellLex('\\', { skipProcessQuotes: true });
      const raw = (w: string): string => track(rawLex.processWordWithMatches(w, env)).result;
      const words = (w: string): string[] => track(ctx.lex.processWordWithMatches(w, env)).words;
      // ARG values are expanded by dispatchArg: a --build-arg replaces the default unexpanded.
      const c = ins.kind === 'ARG' ? ins : expandInstruction(ins, { word: expand, raw, words });
      reportUndefinedVars(d, ins, unmatched, ctx);
      if (dispatchConfigInstruction(d, c, ctx)) continue;
      switch (c.kind) {
        case 'WORKDIR':
          dispatchWorkdir(d, c, ctx, platform);
          break;
        case 'RUN':
          dispatchRun(d, c, ctx, platform, (from) => mountSource(from, cmd, d, ctx));
          break;
        case 'COPY': {
          const src = cmd.sources[0];
          if (c.from && src) {
            if (!src.dispatched) {
              throw convertError(
                'DOCKERFILE_COPY_ORDER',
                `cannot copy from stage "${c.from}", it needs to be defined before current stage "${d.stageName}"`,
                'move the stage you copy from above this one',
                c.location,
              );
            }
            dispatchCopy(d, c, { vertex: src.root, fromContext: false }, ctx, platform);
          } else dispatchCopy(d, c, { vertex: ctx.context, fromContext: true }, ctx, platform);
          break;
        }
        case 'ADD':
          dispatchCopy(d, c, { vertex: ctx.context, fromContext: true }, ctx, platform);
          break;
        default:
          break;
      }
    } catch (err) {
      throw located(err, ins.location);
    }
  }
  sortConfigMaps(d);
}

/** The keys of a stage's (append-only) build args, extended as ARGs add to them. */
const argKeySets = new WeakMap<ArgValue[], { keys: Set<string>; n: number }>();
function argKeys(args: ArgValue[]): Set<string> {
  let k = argKeySets.get(args);
  if (!k || k.n > args.length) {
    k = { keys: new Set(), n: 0 };
    argKeySets.set(args, k);
  }
  for (; k.n < args.length; k.n++) k.keys.add(args[k.n]!.key);
  return k.keys;
}

/** "Did you mean" is searched among at most this many variables. */
const MAX_SUGGEST_ENV = 1000;

/** Variables an instruction used but nothing defined (BuildKit's UndefinedVar check). */
function reportUndefinedVars(
  d: StageState,
  ins: Instruction,
  unmatched: Set<string>,
  ctx: DispatchContext,
): void {
  if (unmatched.size === 0) return;
  // Only instructions that read an undefined variable pay for these (every one did, which made
  // long Dockerfiles quadratic); suggestions are skipped over environments too large to search.
  const declared = argKeys(d.buildArgs);
  const keys =
    d.env.length <= MAX_SUGGEST_ENV
      ? d.env.map((e) => e.slice(0, e.includes('=') ? e.indexOf('=') : e.length))
      : [];
  for (const name of [...unmatched].sort()) {
    if (NON_ENV_ARGS.has(name) || declared.has(name)) continue;
    const near = closest(name, keys, true);
    const message = `Usage of undefined variable '$${name}'${near ? ` (did you mean $${near}?)` : ''}`;
    ctx.warnings.push({ rule: 'UndefinedVar', message, location: ins.location });
  }
}

function mountSource(
  from: string | undefined,
  cmd: Command,
  d: StageState,
  ctx: DispatchContext,
): Vertex | null {
  if (from === undefined) return ctx.context;
  const s = cmd.sources[cmd.froms.indexOf(from)];
  if (!s?.dispatched) {
    throw convertError(
      'DOCKERFILE_COPY_ORDER',
      `cannot mount from stage "${from}", it needs to be defined before current stage "${d.stageName}"`,
      'move the stage you mount from above this one',
    );
  }
  return s.root;
}
