/**
 * The checks of FROM lines, made where the converter expands them (BuildKit's
 * buildDispatchStates and resolveBaseImage): a base name that the ARG defaults alone leave empty
 * or invalid, a `--platform` that is just `$TARGETPLATFORM` or a constant, and a base image whose
 * config names another platform than the one built.
 */
import type { SourceLocation } from '../../../errors/errors.ts';
import { formatPlatform, type Platform, parsePlatform } from '../../../oci/platform.ts';
import { parseReference } from '../../../reference/reference.ts';
import { type Finding, finding, MESSAGES } from './rules.ts';

/** What expanding a word read: the variables it found set, and those it did not. */
export interface Expansion {
  result: string;
  matched: ReadonlySet<string>;
  unmatched: ReadonlySet<string>;
}

/**
 * BuildKit's validateBaseImagesWithDefaultArgs: with no --build-arg at all, would the FROM's
 * base name still be an image reference? `expand` expands with the meta ARGs' defaults; an
 * expansion that fails is left to the build to report.
 */
export function invalidDefaultArgInFrom(
  baseName: string,
  expand: (word: string) => string,
  location: SourceLocation,
): Finding | undefined {
  let name: string;
  try {
    name = expand(baseName);
  } catch {
    return undefined;
  }
  try {
    parseReference(name);
    return undefined;
  } catch {
    return finding('InvalidDefaultArgInFrom', MESSAGES.InvalidDefaultArgInFrom(baseName), location);
  }
}

/**
 * BuildKit's reportRedundantTargetPlatform: `--platform=$TARGETPLATFORM` (one variable read,
 * and it is TARGETPLATFORM, expanding to its value) asks for what FROM does anyway.
 */
export function redundantTargetPlatform(
  written: string,
  x: Expansion,
  targetPlatform: string | undefined,
  location: SourceLocation,
): Finding | undefined {
  if (x.matched.size !== 1 || x.unmatched.size !== 0 || !x.matched.has('TARGETPLATFORM')) return undefined;
  if (x.result !== (targetPlatform ?? '')) return undefined;
  return finding('RedundantTargetPlatform', MESSAGES.RedundantTargetPlatform(written), location);
}

/**
 * BuildKit's reportConstPlatformDisallowed: a `--platform` with no variable in it, unless the
 * stage's name mentions its OS or architecture (a stage made for that platform on purpose).
 */
export function fromPlatformFlagConst(
  stageName: string,
  x: Expansion,
  location: SourceLocation,
): Finding | undefined {
  if (x.matched.size > 0 || x.unmatched.size > 0) return undefined;
  let p: Platform;
  try {
    p = parsePlatform(x.result);
  } catch {
    return undefined; // the build reports the bad platform itself
  }
  if (stageName.includes(p.os) || stageName.includes(p.architecture)) return undefined;
  return finding(
    'FromPlatformFlagConstDisallowed',
    MESSAGES.FromPlatformFlagConstDisallowed(x.result),
    location,
  );
}

/**
 * BuildKit's validateBaseImagePlatform: the base's config names another OS or architecture than
 * the platform it was resolved for.
 */
export function invalidBaseImagePlatform(
  name: string,
  expected: Platform,
  actual: Platform,
  location: SourceLocation,
): Finding | undefined {
  if (expected.os === actual.os && expected.architecture === actual.architecture) return undefined;
  return finding(
    'InvalidBaseImagePlatform',
    MESSAGES.InvalidBaseImagePlatform(name, formatPlatform(expected), formatPlatform(actual)),
    location,
  );
}
