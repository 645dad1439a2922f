/**
 * Rootless commands re-run themselves inside kiln's user namespace (isolation/userns.ts): the
 * kiln started by the user only waits for that one and exits with its status. The state root is
 * resolved here, on the host side, so the kiln inside (root there) keeps the user's
 * $XDG_DATA_HOME/kiln rather than /var/lib/kiln.
 */
import { checkIsolation, chooseIsolation, type Isolation, inOwnUserNamespace } from '../isolation/mode.ts';
import { runInUserNamespace, selfArgv } from '../isolation/userns.ts';
import { isRemoteContext } from '../pipeline/input.ts';
import type { BuildOptions } from '../pipeline/options.ts';
import { resolveRoot } from '../store/root.ts';

/**
 * Commands besides `build` that make, remove or check snapshots, whose files belong to
 * subordinate ids the user cannot delete or read on the host: they run in the namespace too.
 */
export const SNAPSHOT_COMMANDS = new Set([
  'builder',
  'system',
  'prune',
  'fsck',
  // Working containers: their overlays mount, and their RUNs start, only inside the namespace.
  'from',
  'run',
  'copy',
  'add',
  'commit',
  'rm',
]);

/**
 * True when this command should run rootless and is not yet in the namespace (after checking
 * rootless can work here, with an error that says what is missing).
 */
export function needsNamespace(flag?: string): boolean {
  if (inOwnUserNamespace() || process.getuid?.() === 0) return false;
  if (chooseIsolation(flag).mode !== 'rootless') return false;
  checkIsolation('rootless');
  return true;
}

/**
 * The isolation a build here would use, checked (an error says what is missing): its snapshot
 * store is where `pull --unpack` and `image import --unpack` unpack.
 */
export function unpackIsolation(): Isolation {
  const mode = chooseIsolation().mode;
  checkIsolation(mode);
  return mode;
}

/** Run this command again inside the namespace; process.exitCode becomes its status. */
export async function enterNamespace(): Promise<void> {
  process.exitCode = await runInUserNamespace(selfArgv(), {
    // --root, when given, is in the arguments again and wins over this.
    KILN_ROOT: resolveRoot(undefined),
  });
}

/**
 * When this command should run rootless and is not yet in the namespace, run it there and return
 * true (process.exitCode is its status); else false, and the caller goes on in this process.
 */
export async function reexecIfRootless(flag?: string): Promise<boolean> {
  if (!needsNamespace(flag)) return false;
  await enterNamespace();
  return true;
}

/**
 * Whether a rootless build is worth trying outside the namespace first (isolation/outside.ts):
 * only one that reads nothing it could not read again inside (no stdin, no URL context), pulls
 * and pushes nothing, and whose outputs go into the image store; a build that may be fully
 * cached. Anything else goes straight in: its progress would otherwise be held back while it
 * downloads or pushes, or its input consumed.
 */
export function worthTryingOutside(opts: BuildOptions): boolean {
  const remote = (c: string) => c === '-' || isRemoteContext(c);
  return (
    !remote(opts.context) &&
    opts.dockerfile !== '-' &&
    !Object.values(opts.buildContexts ?? {}).some((c) => remote(c) || c.includes('://')) &&
    !opts.pull &&
    !opts.noCache &&
    !opts.noCacheFilter?.length &&
    !opts.cacheFrom?.length &&
    !opts.cacheTo?.length &&
    opts.outputs.every((o) => o.type === 'image' && !o.push && !o.load && o.dest === undefined)
  );
}
