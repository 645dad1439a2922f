/**
 * kiln's one error type. Every error carries a stable `code` (match on it, not on the class),
 * an optional `hint` telling the user how to fix it, an optional `cause`, and, for errors the
 * user caused in a build file, the `location` of the offending lines.
 */
import { ERROR_CODES, type ErrorCode } from './codes.ts';

export type { ErrorCode };

/** A range of lines in a build file (1-based, inclusive). */
export interface SourceLocation {
  file: string;
  startLine: number;
  endLine: number;
  /** 1-based column of the start, where the build file has one (YAML). */
  column?: number;
}

/** `file:line` or `file:line:column`, as editors and compilers write a place. */
export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.startLine}${loc.column ? `:${loc.column}` : ''}`;
}

export interface KilnErrorOptions {
  hint?: string;
  cause?: unknown;
  location?: SourceLocation;
  /** Process exit status the CLI should use; defaults to 1. */
  exitCode?: number;
}

export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  location?: SourceLocation;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    // The catalogue's hint when the raiser has none more specific (ERROR_CODES lists one only
    // where it fits every place the code is raised).
    this.hint = options.hint ?? (ERROR_CODES[code] as { hint?: string } | undefined)?.hint;
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

/**
 * True when `err`, or an error in its `cause` chain, says the filesystem or the quota is full:
 * ENOSPC, EDQUOT, SQLite's SQLITE_FULL (13) or its "cannot grow the shared-memory file" I/O error
 * (SQLITE_IOERR_SHMSIZE, 4874), or an earlier DISK_FULL.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 10; depth++) {
    const { code, errcode } = e as { code?: unknown; errcode?: unknown };
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'DISK_FULL') return true;
    if (errcode === 13 || errcode === 4874) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * DISK_FULL for a write under `root` that found no room: names the root, how many bytes the
 * write needed when known, and keeps the system error as the cause. An error that already is
 * DISK_FULL is returned as it is.
 */
export function diskFull(root: string, cause: unknown, needed?: number): KilnError {
  if (hasCode(cause, 'DISK_FULL') && cause instanceof KilnError) return cause;
  const need = needed === undefined ? '' : ` (${needed} bytes were needed)`;
  const what = hasCode(cause, 'EDQUOT') ? 'the disk quota is exhausted' : 'no space left on the device';
  return new KilnError('DISK_FULL', `${what} of the state root ${root}${need}`, {
    cause,
    hint: `free space there (kiln prune, kiln builder prune, kiln rmi) or choose a --root on a filesystem with room; nothing half-written was kept`,
  });
}

/**
 * A context or rootfs deeper than the kernel's PATH_MAX (ENAMETOOLONG) as the KilnError users see;
 * any other error is returned unchanged.
 */
export function pathTooLong(err: unknown, what: string): unknown {
  if (typeof err !== 'object' || err === null || (err as { code?: unknown }).code !== 'ENAMETOOLONG')
    return err;
  return new KilnError('PATH_TOO_LONG', `${what}: a path is longer than the system allows (PATH_MAX)`, {
    cause: err,
    hint: 'shorten the directory nesting or names in the source (paths of up to 4096 bytes work)',
  });
}
