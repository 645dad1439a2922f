/**
 * kiln's one error type. Every error carries a stable `code` (match on it, not on the class),
 * an optional `hint` telling the user how to fix it, an optional `cause`, and, for errors the
 * user caused in a build file, the `location` of the offending lines.
 */

/** A range of lines in a build file (1-based, inclusive). */
export interface SourceLocation {
  file: string;
  startLine: number;
  endLine: number;
}

export interface KilnErrorOptions {
  hint?: string;
  cause?: unknown;
  location?: SourceLocation;
  /** Process exit status the CLI should use; defaults to 1. */
  exitCode?: number;
}

export class KilnError extends Error {
  readonly code: string;
  readonly hint?: string;
  location?: SourceLocation;
  readonly exitCode: number;

  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.hint = options.hint;
    this.location = options.location;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** True when `err` is a KilnError (or looks like one) with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Attach a location to an error that lacks one (the layer that knows the Dockerfile line adds it). */
export function withLocation<E>(err: E, location: SourceLocation): E {
  if (err instanceof KilnError && !err.location) err.location = location;
  return err;
}

/** Node's system errors (ENOENT, EEXIST, …) carry their errno name in `code`. */
export function isErrno(err: unknown, code: string): boolean {
  return hasCode(err, code);
}
