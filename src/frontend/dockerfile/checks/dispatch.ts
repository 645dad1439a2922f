/**
 * The checks made while a stage's instructions are dispatched (BuildKit's dispatch functions):
 * the first WORKDIR of a build being relative, a CMD / ENTRYPOINT / HEALTHCHECK that a later one
 * overrides, the legacy `ENV key value` form, and (experimental) a COPY of a file the
 * .dockerignore excludes.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { goClean } from '../../dockerignore/filepath.ts';
import { PatternMatcher } from '../../dockerignore/patternmatcher.ts';
import { type Finding, finding, MESSAGES } from './rules.ts';

/**
 * BuildKit's WorkdirRelativePath: only the first WORKDIR of a stage chain (`workdirSet` false)
 * is checked: fixing it fixes every relative one after it, and a base image's WORKDIR does not
 * count, since the base may change.
 */
export function workdirRelativePath(
  path: string,
  workdirSet: boolean,
  location: SourceLocation,
): Finding | undefined {
  if (workdirSet || path.startsWith('/')) return undefined;
  return finding('WorkdirRelativePath', MESSAGES.WorkdirRelativePath(path), location);
}

/**
 * BuildKit's validateUsedOnce for CMD, ENTRYPOINT and HEALTHCHECK: the finding points at the
 * earlier instruction, the one that has no effect. `seen` is the stage's record of where each
 * was last used.
 */
export function multipleInstructions(
  seen: Map<string, SourceLocation>,
  kind: string,
  name: string,
  location: SourceLocation,
): Finding | undefined {
  const before = seen.get(kind);
  seen.set(kind, location);
  return before
    ? finding('MultipleInstructionsDisallowed', MESSAGES.MultipleInstructionsDisallowed(name), before)
    : undefined;
}

/** BuildKit's LegacyKeyValueFormat: one finding per `key value` pair of an ENV or LABEL. */
export function legacyKeyValueFormat(
  name: string,
  pairs: readonly { noDelim: boolean }[],
  location: SourceLocation,
): Finding[] {
  return pairs
    .filter((p) => p.noDelim)
    .map(() => finding('LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(name), location));
}

/** .dockerignore matchers by pattern list, built once per conversion. */
const matchers = new WeakMap<readonly string[], PatternMatcher | null>();

function matcherFor(patterns: readonly string[]): PatternMatcher | null {
  let m = matchers.get(patterns);
  if (m === undefined) {
    try {
      m = patterns.length > 0 ? new PatternMatcher(patterns) : null;
    } catch {
      m = null; // a bad pattern fails the context transfer, not this check
    }
    matchers.set(patterns, m);
  }
  return m;
}

/**
 * BuildKit's validateCopySourcePath (CopyIgnoredFile, experimental): a COPY or ADD source from
 * the context that the .dockerignore excludes. Not checked when the file has `!` exceptions (a
 * directory excluded with a file inside it let back in cannot be judged statically); the context
 * root itself counts only when a pattern excludes everything.
 */
export function copyIgnoredFile(
  src: string,
  isAdd: boolean,
  dockerignore: readonly string[] | undefined,
  location: SourceLocation,
): Finding | undefined {
  const m = dockerignore ? matcherFor(dockerignore) : null;
  if (!m || m.exclusions) return undefined;
  const path = goClean(src);
  if (path === '.' || path === '/') {
    if (!dockerignore!.some((p) => ['*', '**', '**/*'].includes(p.trim()))) return undefined;
  }
  if (!m.matchesOrParentMatches(path)) return undefined;
  return finding('CopyIgnoredFile', MESSAGES.CopyIgnoredFile(isAdd ? 'Add' : 'Copy', path), location);
}
