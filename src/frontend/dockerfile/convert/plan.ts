/**
 * Planning a conversion: stage states from the parsed stages (names, indexes, bases, FROM
 * expansion with the meta ARGs, `--target`), the stages each instruction reads, cycle checks,
 * reachability from the target, base-image resolution and ONBUILD triggers.
 */
import { type ErrorCode, KilnError, type SourceLocation, withLocation } from '../../../errors/errors.ts';
import { gitSource, httpSource, imageSource, localSource } from '../../../graph/index.ts';
import type { ImageConfig } from '../../../oci/config.ts';
import { parsePlatform } from '../../../oci/platform.ts';
import { familiarName, normalizeReference, parseReference } from '../../../reference/reference.ts';
import { fromPlatformFlagConst, invalidBaseImagePlatform, redundantTargetPlatform } from '../checks/from.ts';
import { closest } from '../instructions/suggest.ts';
import type { DockerfileInstructions, Instruction } from '../instructions/types.ts';
import type { ShellLex } from '../shell/lex.ts';
import type { DispatchContext } from './dispatch.ts';
import { parseGitRef } from './sources.ts';
import {
  type Command,
  countsAsStep,
  emptyImage,
  type NamedContext,
  newState,
  prefixCommand,
  type StageState,
} from './state.ts';
import type { ConvertInstructionsOptions, ConvertOptions, ConvertWarning } from './types.ts';

export function located(err: unknown, location: SourceLocation): unknown {
  return withLocation(err, location);
}

export function convertError(
  code: ErrorCode,
  message: string,
  hint: string,
  location?: SourceLocation,
): KilnError {
  return new KilnError(code, message, { hint, location });
}

export interface Dispatcher {
  states: StageState[];
  byName: Map<string, StageState>;
  /** States for images named by COPY --from / RUN --mount from=, by the name as written. */
  images: Map<string, StageState>;
  target: StageState;
}

export function buildStates(
  df: DockerfileInstructions,
  opts: ConvertOptions,
  lex: ShellLex,
  globalArgs: string[],
  warnings: ConvertWarning[],
): Dispatcher {
  const states: StageState[] = [];
  const byName = new Map<string, StageState>();
  const declared = df.metaArgs.flatMap((c) => c.args.map((a) => a.key));
  // BuildKit's UndefinedArgInFrom: a FROM word naming a variable no meta ARG declares.
  const expandFromWithMatches = (word: string, location: SourceLocation) => {
    try {
      const r = lex.processWordWithMatches(word, globalArgs);
      for (const name of [...r.unmatched].sort()) {
        if (declared.includes(name)) continue;
        const near = closest(name, declared, true);
        const message = `FROM argument '${name}' is not declared${near ? ` (did you mean ${near}?)` : ''}`;
        warnings.push({ rule: 'UndefinedArgInFrom', message, location });
      }
      return r;
    } catch (err) {
      throw located(err, location);
    }
  };
  const expandFrom = (word: string, location: SourceLocation): string =>
    expandFromWithMatches(word, location).result;
  df.stages.forEach((st, i) => {
    const baseName = expandFrom(st.baseName, st.location);
    if (baseName === '') {
      throw convertError(
        'DOCKERFILE_BLANK_BASE',
        `base name (${st.baseName}) should not be blank`,
        blankBaseHint(st.baseName),
        st.location,
      );
    }
    const d = newState(states.length, baseName, st.location, st);
    if (st.platform) {
      const x = expandFromWithMatches(st.platform, st.location);
      const target = globalArgs.find((e) => e.startsWith('TARGETPLATFORM='))?.slice('TARGETPLATFORM='.length);
      const redundant = redundantTargetPlatform(st.platform, x, target, st.location);
      if (redundant) warnings.push(redundant);
      const constant = fromPlatformFlagConst(st.name ?? '', x, st.location);
      if (constant) warnings.push(constant);
      const text = x.result;
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
    const replaced = st.name ? namedContextFor(opts, st.name) : undefined;
    if (replaced) d.namedContext = { key: st.name!, spec: replaced, replacesStage: true };
    else if (base) d.base = base;
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
  const dsp: Dispatcher = { states, byName, images: new Map(), target };
  for (const d of [...states]) {
    // A stage replaced by a named context (`--build-context name=...`) runs none of its steps.
    d.commands = d.namedContext?.replacesStage
      ? []
      : d.stage!.instructions.map((ins) => toCommand(ins, d, dsp, lex, false));
  }
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
  let s = dsp.images.get(from);
  if (!s) {
    s = newState(dsp.states.length, from, location);
    dsp.states.push(s);
    dsp.images.set(from, s);
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
export async function resolveStages(
  dsp: Dispatcher,
  opts: ConvertInstructionsOptions,
  ctx: DispatchContext,
): Promise<Set<StageState>> {
  for (;;) {
    // A check without a target resolves (and dispatches) every stage, as BuildKit's lint.
    const reachable = opts.allStages ? new Set(dsp.states) : reachableFrom(dsp.target);
    await Promise.all(
      dsp.states
        .filter((d) => reachable.has(d) && !d.base && !d.resolved)
        .map((d) => resolveBase(d, opts, ctx.warnings)),
    );
    let newDeps = false;
    for (const d of dsp.states) {
      // Images named by COPY --from / RUN --mount only lend their filesystem: no triggers run.
      if (!reachable.has(d) || d.onBuildInit || !d.stage) continue;
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

const DOCKER_IMAGE_PREFIX = 'docker-image://';

/** The named context (`--build-context`) for a stage name or base, if any; `context` and `scratch` never are. */
function namedContextFor(opts: ConvertOptions, key: string): string | undefined {
  if (!opts.namedContexts || key === 'context' || key === 'scratch') return undefined;
  return Object.hasOwn(opts.namedContexts, key) ? opts.namedContexts[key] : undefined;
}

/** Named contexts for image names are keyed by the familiar name without `:latest` (as docker's). */
function namedBase(opts: ConvertOptions, baseName: string): NamedContext | undefined {
  if (!opts.namedContexts || baseName === 'scratch') return undefined;
  let key = baseName;
  try {
    key = familiarName(parseReference(baseName)).replace(/:latest$/, '');
  } catch {
    // Not an image reference: look it up as written.
  }
  const spec = namedContextFor(opts, key) ?? namedContextFor(opts, baseName);
  return spec === undefined
    ? undefined
    : { key: namedContextFor(opts, key) !== undefined ? key : baseName, spec, replacesStage: false };
}

/**
 * The source of a named context that is not an image, as BuildKit's dockerui makes it: a git
 * URL is a checkout, another http(s) URL one downloaded file named `context` (not unpacked), and
 * anything else the local directory the build input checked.
 */
function contextSource(named: NamedContext, location: SourceLocation) {
  const git = parseGitRef(named.spec);
  if (git) {
    return gitSource(
      git.remote,
      { ref: git.checksum ?? git.ref, subdir: git.subdir, keepGitDir: git.keepGitDir ?? false },
      { description: `[context ${named.key}] load git source ${named.spec}`, location },
    );
  }
  if (named.spec.startsWith('http://') || named.spec.startsWith('https://')) {
    return httpSource(
      named.spec,
      { filename: 'context' },
      { description: `[context ${named.key}] ${named.spec}`, location },
    );
  }
  return localSource(named.key, {}, { description: `[internal] load build context ${named.key}`, location });
}

async function resolveBase(
  d: StageState,
  opts: ConvertInstructionsOptions,
  warnings: ConvertWarning[],
): Promise<void> {
  d.resolved = true;
  const platform = d.platform ?? opts.platform;
  if (d.baseName === 'scratch') {
    d.image = emptyImage(platform);
    d.platform = platform;
    d.root = null;
    if (!d.stage) d.dispatched = true;
    return;
  }
  const named = d.namedContext ?? namedBase(opts, d.baseName);
  let source = d.baseName;
  if (named) {
    d.namedContext = named;
    if (named.replacesStage) d.dispatched = true;
    if (!named.spec.startsWith(DOCKER_IMAGE_PREFIX)) {
      // A directory, a git checkout or a download: its files are the root filesystem, with an
      // empty image config.
      d.image = emptyImage(platform);
      d.platform = platform;
      d.root = contextSource(named, d.location);
      if (!d.stage) d.dispatched = true;
      return;
    }
    source = named.spec.slice(DOCKER_IMAGE_PREFIX.length);
    if (source === 'scratch') {
      // BuildKit: docker-image://scratch is the empty filesystem.
      d.image = emptyImage(platform);
      d.platform = platform;
      d.root = null;
      if (!d.stage) d.dispatched = true;
      return;
    }
  }
  let ref: string;
  try {
    ref = normalizeReference(source);
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
  // Only a resolver that hands back another platform's config (kiln's own refuses one, but a
  // check resolves configs without that guard) gets this far with a mismatch.
  if (img.os && img.architecture) {
    const f = invalidBaseImagePlatform(source, platform, img, d.location);
    if (f) warnings.push(f);
  }
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

/** Name the build-args a blank FROM read, so the hint says exactly what to pass. */
function blankBaseHint(baseName: string): string {
  const names = [...new Set(Array.from(baseName.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g), (m) => m[1]))];
  if (names.length === 0)
    return 'define the ARG used in FROM before the first FROM, or pass it with --build-arg';
  const args = names.map((n) => `--build-arg ${n}=<image>`).join(' ');
  return `pass ${args}, or give ARG ${names.join(', ')} a default before the first FROM`;
}
