/**
 * Instructions → build graph, the heart of BuildKit's dockerfile2llb: stages by name and index,
 * `--target` with unreachable stages pruned, meta and per-stage ARG scoping, the automatic
 * platform args, base-image configs through the resolver, ONBUILD triggers, and the image config
 * and history of the target. Pure apart from resolver calls.
 */
import { KilnError, type SourceLocation, withLocation } from '../../../errors/errors.ts';
import { definition, imageSource, localSource, type Vertex } from '../../../graph/index.ts';
import type { ImageConfig } from '../../../oci/config.ts';
import { DEFAULT_PATH } from '../../../oci/config.ts';
import { normalizePlatform, type Platform, parsePlatform, platformArgs } from '../../../oci/platform.ts';
import { normalizeReference } from '../../../reference/reference.ts';
import { expandInstruction } from '../instructions/expand.ts';
import type { DockerfileInstructions, Instruction } from '../instructions/types.ts';
import { ShellLex } from '../shell/lex.ts';
import { dispatchCopy } from './copy.ts';
import { type DispatchContext, dispatchConfigInstruction, dispatchWorkdir } from './dispatch.ts';
import { dispatchRun } from './run.ts';
import {
  type Command,
  countsAsStep,
  emptyImage,
  getEnv,
  newState,
  prefixCommand,
  type StageState,
  setEnv,
} from './state.ts';
import type { ConvertOptions, ConvertResult, ConvertWarning } from './types.ts';

/** Parses an ONBUILD trigger expression (from an image config) into an instruction. */
export type TriggerParser = (expression: string, location: SourceLocation) => Instruction;

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

function located(err: unknown, location: SourceLocation): unknown {
  return withLocation(err, location);
}

function convertError(code: string, message: string, hint: string, location?: SourceLocation): KilnError {
  return new KilnError(code, message, { hint, location });
}

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

interface Dispatcher {
  states: StageState[];
  byName: Map<string, StageState>;
  target: StageState;
}

/** The result of one full dispatch with a given context source. */
interface Pass {
  target: StageState;
  ctxPaths: Set<string>;
  warnings: ConvertWarning[];
}

export interface ConvertInstructionsOptions extends ConvertOptions {
  parseTrigger: TriggerParser;
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
  const first = await runPass(
    df,
    { ...opts, resolver },
    localSource(contextName, { excludePatterns: excludes }),
  );
  const follow = [...first.ctxPaths].includes('/')
    ? []
    : [...first.ctxPaths].map((p) => p.replace(/^\/+/, '') || '.');
  const ctx = localSource(
    contextName,
    { excludePatterns: excludes, followPaths: follow },
    { description: `[internal] load build context` },
  );
  const pass = follow.length === 0 ? first : await runPass(df, { ...opts, resolver }, ctx);
  const t = pass.target;
  const config = finalizeConfig(t, opts);
  return {
    definition: definition({ default: { root: t.root, config } }),
    root: t.root,
    config,
    target: t.stageName || t.name || `stage-${t.index}`,
    warnings: pass.warnings,
  };
}

function finalizeConfig(t: StageState, opts: ConvertOptions): ImageConfig {
  const img = structuredClone(t.image);
  if (opts.labels && Object.keys(opts.labels).length > 0) {
    img.config = { ...(img.config ?? {}), Labels: { ...(img.config?.Labels ?? {}), ...opts.labels } };
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
  const warnings: ConvertWarning[] = df.warnings.map((w) => ({
    rule: 'NoEmptyContinuation',
    message: w.short,
    location: w.location,
  }));

  // Meta ARGs (before the first FROM): scoped to FROM lines and re-declarations in stages.
  for (const cmd of df.metaArgs) {
    for (const kv of cmd.args) {
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, kv.key)) value = buildArgs[kv.key];
      else if (kv.value !== undefined) {
        try {
          value = lex.processWord(kv.value, globalArgs);
        } catch (err) {
          throw located(err, cmd.location);
        }
      }
      if (value !== undefined) globalArgs = setEnv(globalArgs, kv.key, value);
      usedArgs.add(kv.key);
    }
  }

  const dsp = buildStates(df, opts, lex, globalArgs);
  const ctx: DispatchContext = {
    lex,
    escapeToken: df.escapeToken,
    buildArgs,
    globalArgs,
    targetPlatform: opts.platform,
    multiPlatform: opts.multiPlatform ?? false,
    context,
    warnings,
    usedArgs,
  };

  const reachable = await resolveStages(dsp, opts, ctx);
  const ctxPaths = new Set<string>();
  for (const d of dsp.states) {
    if (!reachable.has(d) || d.dispatched) continue;
    dispatchStage(d, ctx, opts);
    for (const p of d.ctxPaths) ctxPaths.add(p);
  }

  const unused = Object.keys(buildArgs)
    .filter(
      (k) =>
        !usedArgs.has(k) &&
        !BUILTIN_ARGS.has(k) &&
        !globalArgs.some((e) => e.startsWith(`${k}=`) && !Object.hasOwn(buildArgs, k)),
    )
    .filter((k) => !/^(BUILD|TARGET)(PLATFORM|OS|ARCH|VARIANT)$|^TARGETSTAGE$|^BUILDKIT_/.test(k))
    .sort();
  if (unused.length > 0) {
    warnings.push({
      rule: 'UnusedBuildArg',
      message: `one or more build-args [${unused.join(' ')}] were not consumed`,
    });
  }
  return { target: dsp.target, ctxPaths, warnings };
}

function buildStates(
  df: DockerfileInstructions,
  opts: ConvertOptions,
  lex: ShellLex,
  globalArgs: string[],
): Dispatcher {
  const states: StageState[] = [];
  const byName = new Map<string, StageState>();
  df.stages.forEach((st, i) => {
    let baseName: string;
    try {
      baseName = lex.processWord(st.baseName, globalArgs);
    } catch (err) {
      throw located(err, st.location);
    }
    if (baseName === '') {
      throw convertError(
        'DOCKERFILE_BLANK_BASE',
        `base name (${st.baseName}) should not be blank`,
        'define the ARG used in FROM before the first FROM, or pass it with --build-arg',
        st.location,
      );
    }
    const d = newState(states.length, baseName, st.location, st);
    if (st.platform) {
      let text: string;
      try {
        text = lex.processWord(st.platform, globalArgs);
      } catch (err) {
        throw located(err, st.location);
      }
      if (text === '') {
        throw convertError(
          'DOCKERFILE_INVALID_PLATFORM',
          `empty platform value from expression ${st.platform}`,
          'define the ARG used in --platform',
          st.location,
        );
      }
      try {
        d.platform = parsePlatform(text);
      } catch (err) {
        throw located(err, st.location);
      }
    }
    if (!st.name) d.stageName = `stage-${i}`;
    const base = byName.get(baseName.toLowerCase());
    if (base) d.base = base;
    if (st.name) byName.set(st.name.toLowerCase(), d);
    d.cmdTotal = (baseName !== 'scratch' && !d.base ? 1 : 0) + st.instructions.filter(countsAsStep).length;
    const nc = opts.noCache;
    d.ignoreCache = nc === true || (Array.isArray(nc) && nc.includes(st.name ?? ''));
    states.push(d);
  });

  let target = states[states.length - 1];
  if (opts.target) {
    const t = byName.get(opts.target.toLowerCase());
    if (!t) {
      const names = [...byName.keys()];
      throw convertError(
        'DOCKERFILE_TARGET_NOT_FOUND',
        `target stage "${opts.target}" could not be found`,
        names.length > 0
          ? `stages in this Dockerfile: ${names.join(', ')}`
          : 'name a stage with FROM ... AS <name>',
      );
    }
    target = t;
  }
  const dsp: Dispatcher = { states, byName, target };
  for (const d of [...states])
    d.commands = d.stage!.instructions.map((ins) => toCommand(ins, d, dsp, lex, false));
  checkCycles(states);
  if (states.length === 1) states[0].stageName = '';
  return dsp;
}

/** Find the states an instruction reads (COPY --from, RUN --mount from=), registering images. */
function toCommand(
  ins: Instruction,
  d: StageState,
  dsp: Dispatcher,
  lex: ShellLex,
  isOnBuild: boolean,
): Command {
  const froms: string[] = [];
  if (ins.kind === 'COPY' && ins.from) {
    if (lex.processWord(ins.from, []) !== ins.from) {
      throw convertError(
        'DOCKERFILE_FROM_VARIABLE',
        'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround',
        'name the stage or image literally',
        ins.location,
      );
    }
    froms.push(ins.from);
  }
  if (ins.kind === 'RUN')
    for (const m of ins.mounts) if ((m.type === 'bind' || m.type === 'cache') && m.from) froms.push(m.from);
  const sources = froms.map((f) => stateFor(f, dsp, ins.location));
  for (const s of sources) d.deps.add(s);
  return { instruction: ins, sources, froms, isOnBuild };
}

function stateFor(from: string, dsp: Dispatcher, location: SourceLocation): StageState {
  if (/^\d+$/.test(from)) {
    const i = Number(from);
    if (i >= dsp.states.length) {
      throw convertError(
        'DOCKERFILE_INVALID_STAGE_INDEX',
        `invalid stage index ${i}`,
        `stages are numbered from 0 to ${dsp.states.length - 1}`,
        location,
      );
    }
    return dsp.states[i];
  }
  const named = dsp.byName.get(from.toLowerCase());
  if (named) return named;
  // Not a stage: an image, resolved like a FROM.
  const key = `image:${from}`;
  let s = dsp.byName.get(key);
  if (!s) {
    s = newState(dsp.states.length, from, location);
    dsp.states.push(s);
    dsp.byName.set(key, s);
  }
  return s;
}

function checkCycles(states: StageState[]): void {
  const visiting = new Set<StageState>();
  const done = new Set<StageState>();
  const visit = (s: StageState): void => {
    if (done.has(s)) return;
    if (visiting.has(s)) {
      throw convertError(
        'DOCKERFILE_CIRCULAR_DEPENDENCY',
        `circular dependency detected on stage: ${s.stageName || s.baseName}`,
        'a stage cannot copy from itself or from a stage that depends on it',
        s.location,
      );
    }
    visiting.add(s);
    for (const dep of s.deps) visit(dep);
    if (s.base) visit(s.base);
    visiting.delete(s);
    done.add(s);
  };
  for (const s of states) visit(s);
}

function reachableFrom(target: StageState): Set<StageState> {
  const out = new Set<StageState>();
  const walk = (s: StageState): void => {
    if (out.has(s)) return;
    out.add(s);
    if (s.base) walk(s.base);
    for (const d of s.deps) walk(d);
  };
  walk(target);
  return out;
}

/** Resolve base images of reachable stages and expand ONBUILD triggers until no new stage becomes reachable. */
async function resolveStages(
  dsp: Dispatcher,
  opts: ConvertInstructionsOptions,
  ctx: DispatchContext,
): Promise<Set<StageState>> {
  for (;;) {
    const reachable = reachableFrom(dsp.target);
    await Promise.all(
      dsp.states.filter((d) => reachable.has(d) && !d.base && !d.resolved).map((d) => resolveBase(d, opts)),
    );
    let newDeps = false;
    for (const d of dsp.states) {
      if (!reachable.has(d) || d.onBuildInit) continue;
      d.onBuildInit = true;
      const triggers: Instruction[] = [];
      if (d.base) {
        for (const c of d.base.stage?.instructions ?? []) if (c.kind === 'ONBUILD') triggers.push(c.trigger);
      } else {
        for (const expr of d.image.config?.OnBuild ?? []) {
          try {
            triggers.push(opts.parseTrigger(expr, d.location));
          } catch (err) {
            throw located(err, d.location);
          }
        }
        if (d.image.config) d.image.config.OnBuild = null;
      }
      if (triggers.length === 0) continue;
      const cmds = triggers.map((t) => toCommand({ ...t, location: d.location }, d, dsp, ctx.lex, true));
      if (cmds.some((c) => c.sources.length > 0)) newDeps = true;
      d.commands = [...cmds, ...d.commands];
      d.cmdTotal += cmds.filter((c) => countsAsStep(c.instruction)).length;
    }
    checkCycles(dsp.states);
    if (!newDeps) return reachable;
  }
}

async function resolveBase(d: StageState, opts: ConvertInstructionsOptions): Promise<void> {
  d.resolved = true;
  const platform = d.platform ?? opts.platform;
  if (d.baseName === 'scratch') {
    d.image = emptyImage(platform);
    d.platform = platform;
    d.root = null;
    if (!d.stage) d.dispatched = true;
    return;
  }
  let ref: string;
  try {
    ref = normalizeReference(d.baseName);
  } catch (err) {
    throw located(err, d.location);
  }
  let resolved: { ref: string; config: ImageConfig };
  try {
    resolved = await opts.resolver.resolveImageConfig(ref, platform);
  } catch (err) {
    if (err instanceof KilnError) throw located(err, d.location);
    throw new KilnError(
      'BASE_IMAGE_RESOLVE',
      `${d.baseName}: failed to resolve image config: ${(err as Error).message}`,
      {
        cause: err,
        location: d.location,
        hint: 'check the image name and that the registry is reachable',
      },
    );
  }
  const img = structuredClone(resolved.config);
  delete img.created;
  const isScratch =
    (img.rootfs?.diff_ids ?? []).length === 0 && (img.history ?? []).every((h) => h.empty_layer);
  d.image = img;
  d.platform = platform;
  d.baseName = resolved.ref;
  if (isScratch) d.root = null;
  else {
    const text = prefixCommand(d, `FROM ${resolved.ref}`, opts.multiPlatform ?? false, platform);
    d.root = imageSource(resolved.ref, platform, {
      description: text,
      location: d.location,
      ignoreCache: d.ignoreCache || undefined,
    });
  }
  if (!d.stage) d.dispatched = true;
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
}

function dispatchStage(d: StageState, ctx: DispatchContext, opts: ConvertOptions): void {
  if (d.base) initFromBase(d);
  d.dispatched = true;
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
      const expand = (w: string): string => ctx.lex.processWord(w, d.env);
      const rawLex = new ShellLex('\\', { skipProcessQuotes: true });
      const raw = (w: string): string => rawLex.processWord(w, d.env);
      const words = (w: string): string[] => ctx.lex.processWords(w, d.env);
      // ARG values are expanded by dispatchArg: a --build-arg replaces the default unexpanded.
      const c = ins.kind === 'ARG' ? ins : expandInstruction(ins, { word: expand, raw, words });
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
