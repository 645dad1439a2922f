/**
 * What the `# syntax=` and `# check=` parser directives ask of a build. kiln's frontend is built
 * in: `syntax` may only name BuildKit's Dockerfile frontend image (docker/dockerfile, any tag or
 * digest), which kiln stands in for. `check` (or the BUILDKIT_DOCKERFILE_CHECK build arg, which
 * wins) skips lint rules and can make the remaining warnings fail the build, as BuildKit's linter.
 */
import { KilnError, type SourceLocation } from '../../../errors/errors.ts';
import { parseReference } from '../../../reference/reference.ts';
import { ruleByName } from '../checks/rules.ts';
import { detectSyntax, parseDirective } from '../parser/directives.ts';
import type { ConvertWarning } from './types.ts';

/** The images whose frontend kiln's built-in one is: BuildKit's Dockerfile frontend. */
const BUILTIN_FRONTENDS = new Set(['docker.io/docker/dockerfile', 'docker.io/docker/dockerfile-upstream']);

/** The build arg BuildKit reads check options from, before the directive. */
export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

/** Warnings that are not lint rules: `check` neither skips them nor fails on them. */
const NOT_LINT = new Set(['UnusedBuildArg']);

function at(file: string, line: number): SourceLocation | undefined {
  return line > 0 ? { file, startLine: line, endLine: line } : undefined;
}

/** True when `ref` names BuildKit's Dockerfile frontend image (any tag or digest), which kiln's built-in one is. */
export function isBuiltinFrontend(ref: string): boolean {
  try {
    const r = parseReference(ref);
    return BUILTIN_FRONTENDS.has(`${r.domain}/${r.path}`);
  } catch {
    return false;
  }
}

/**
 * The frontend image `# syntax=` names, when it is BuildKit's Dockerfile frontend (kiln builds
 * with its own, which follows it); any other image is a gateway frontend kiln cannot run.
 */
export function builtinSyntax(text: string, file: string): string | undefined {
  const d = detectSyntax(text);
  if (!d) return undefined;
  let repo = '';
  try {
    const r = parseReference(d.ref);
    repo = `${r.domain}/${r.path}`;
  } catch {
    // not a reference at all: refused below like any other frontend
  }
  if (BUILTIN_FRONTENDS.has(repo)) return d.ref;
  throw new KilnError('FRONTEND_UNSUPPORTED', `unsupported frontend "${d.ref}" in the syntax directive`, {
    location: at(file, d.line),
    hint: '`kiln build` runs it as a gateway frontend (docs/gateway.md); here only the built-in Dockerfile frontend is available',
  });
}

export interface LintConfig {
  skip: Set<string>;
  skipAll: boolean;
  /** Experimental rules to run (`experimental=A,B`); they run only when named here. */
  experimental: Set<string>;
  /** `experimental=all`. */
  experimentalAll: boolean;
  /** Fail the build when a lint warning remains (`error=true`). */
  error: boolean;
  /** Where the options came from, for the error. */
  location?: SourceLocation;
}

/** BuildKit's ParseLintOptions: `skip=A,B` or `skip=all`, `error=BOOL`, separated by `;`. */
export function parseCheckOptions(value: string, where: string, location?: SourceLocation): LintConfig {
  const config: LintConfig = {
    skip: new Set(),
    skipAll: false,
    experimental: new Set(),
    experimentalAll: false,
    error: false,
    location,
  };
  const text = value.trim();
  if (text === '') return config;
  const fail = (what: string) =>
    new KilnError('DOCKERFILE_INVALID_CHECK', `failed to parse check options (${where}): ${what}`, {
      location,
      hint: 'write check=skip=RuleA,RuleB;error=true;experimental=all (skip=all skips every rule)',
    });
  // As BuildKit (strings.SplitN(…, ";", 3)): a fourth `;` stays inside the third part.
  const parts: string[] = [];
  let rest = text;
  while (parts.length < 2 && rest.includes(';')) {
    parts.push(rest.slice(0, rest.indexOf(';')));
    rest = rest.slice(rest.indexOf(';') + 1);
  }
  parts.push(rest);
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) throw fail(`invalid check option "${p}"`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (k === 'skip') {
      if (v === 'all') config.skipAll = true;
      else for (const r of v.split(',')) config.skip.add(r.trim());
    } else if (k === 'experimental') {
      if (v === 'all') config.experimentalAll = true;
      else for (const r of v.split(',')) config.experimental.add(r.trim());
    } else if (k === 'error') {
      // Go's strconv.ParseBool
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) config.error = true;
      else if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) config.error = false;
      else throw fail(`invalid value "${v}" for check option error`);
    } else throw fail(`invalid check option "${k}"`);
  }
  return config;
}

/** The check options of a build: the build arg if given, else the `# check=` directive. */
export function lintConfig(text: string, file: string, buildArgs: Record<string, string>): LintConfig {
  if (Object.hasOwn(buildArgs, CHECK_BUILD_ARG)) {
    return parseCheckOptions(buildArgs[CHECK_BUILD_ARG], `--build-arg ${CHECK_BUILD_ARG}`);
  }
  const d = parseDirective('check', text);
  return d
    ? parseCheckOptions(d.cmdline, 'the check directive', at(file, d.line))
    : parseCheckOptions('', '');
}

/**
 * BuildKit's Linter.Run: an experimental rule runs only when named (skip does not apply to it),
 * any other unless skipped.
 */
function runs(rule: string, config: LintConfig): boolean {
  if (ruleByName(rule)?.experimental) return config.experimentalAll || config.experimental.has(rule);
  return !(config.skipAll || config.skip.has(rule));
}

/** A finding carries its rule's documentation link, as BuildKit's warnings do. */
function withUrl(w: ConvertWarning): ConvertWarning {
  if (w.url) return w;
  const url = ruleByName(w.rule)?.url;
  return url ? { ...w, url } : w;
}

/**
 * The warnings left once skipped rules are dropped, and with `error=true` the error BuildKit
 * fails the build with when any lint warning remains (its rules named once each).
 */
export function applyLint(
  warnings: ConvertWarning[],
  config: LintConfig,
): { warnings: ConvertWarning[]; error?: KilnError } {
  const kept = warnings.filter((w) => NOT_LINT.has(w.rule) || runs(w.rule, config)).map(withUrl);
  const rules = [...new Set(kept.filter((w) => !NOT_LINT.has(w.rule)).map((w) => w.rule))].sort();
  if (!config.error || rules.length === 0) return { warnings: kept };
  const error = new KilnError('LINT_VIOLATION', `lint violation found for rules: ${rules.join(', ')}`, {
    location: config.location,
    hint: `fix the warnings above, or skip their rules: # check=skip=${rules.join(',')}`,
  });
  return { warnings: kept, error };
}
