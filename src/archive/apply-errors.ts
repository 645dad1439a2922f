/**
 * What a failure while applying one layer entry becomes: always a KilnError that names the entry
 * (its bytes shown with showName), never a raw errno, a Node argument error or a stack. The
 * system's own message is left out because it carries host paths; its errno and call are kept.
 */
import { diskFull, isDiskFull, KilnError } from '../errors/errors.ts';
import { showName } from '../sys/fsname.ts';

/** Linux's limits on one name and on a whole path handed to a system call (NAME_MAX, PATH_MAX - 1). */
export const NAME_MAX = 255;
export const PATH_MAX = 4095;

const HOSTILE_HINT = 'the layer is malformed or hostile; nothing outside the target directory was touched';

/** A KilnError for `err`, thrown while applying `entry` (its path in the tar) into `target`. */
export function entryFailure(err: unknown, entry: string, target: string): KilnError {
  if (err instanceof KilnError) return err;
  // A full disk is the host's problem, not the layer's: DISK_FULL says where and what to do.
  if (isDiskFull(err)) return diskFull(target, err);
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  const name = `"${showName(entry)}"`;
  if (code === 'ENAMETOOLONG') {
    return new KilnError(
      'LAYER_ENTRY_INVALID',
      `layer entry ${name} makes a path longer than Linux allows (${NAME_MAX} bytes a name, ${PATH_MAX} a path)`,
      { hint: HOSTILE_HINT, cause: err },
    );
  }
  const what = typeof code === 'string' ? `${syscall ?? 'a system call'} failed with ${code}` : String(err);
  return new KilnError('LAYER_UNPACK_FAILED', `cannot apply layer entry ${name}: ${what}`, {
    hint: 'the layer may be damaged or hostile, or the target filesystem cannot hold this entry',
    cause: err,
  });
}

// containerd's boundTime: a time before the epoch or past what int64 nanoseconds hold is the epoch.
const MAX_SECONDS = 9_223_372_036;

/** An archive mtime the kernel accepts: out-of-range or non-finite times become 0, as containerd does. */
export function boundTime(seconds: number): number {
  return Number.isFinite(seconds) && seconds >= 0 && seconds <= MAX_SECONDS ? seconds : 0;
}

/** Refuse a symlink target the kernel would refuse: empty, holding NUL, or longer than a path. */
export function checkSymlinkTarget(entry: string, target: string, byteLength: number): void {
  const problem =
    target === ''
      ? 'an empty target'
      : target.includes('\0')
        ? 'a NUL byte in its target'
        : byteLength > PATH_MAX
          ? `a target of ${byteLength} bytes (at most ${PATH_MAX})`
          : undefined;
  if (problem) {
    throw new KilnError('LAYER_INVALID_LINK', `layer symlink "${showName(entry)}" has ${problem}`, {
      hint: HOSTILE_HINT,
    });
  }
}
