/**
 * Rootless commands re-run themselves inside kiln's user namespace (isolation/userns.ts): the
 * kiln started by the user only waits for that one and exits with its status. The state root is
 * resolved here, on the host side, so the kiln inside (root there) keeps the user's
 * $XDG_DATA_HOME/kiln rather than /var/lib/kiln.
 */
import { checkIsolation, chooseIsolation, inOwnUserNamespace } from '../isolation/mode.ts';
import { runInUserNamespace, selfArgv } from '../isolation/userns.ts';
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
 * When this command should run rootless and is not yet in the namespace, run it there and return
 * true (process.exitCode is its status); else false, and the caller goes on in this process.
 */
export async function reexecIfRootless(flag?: string): Promise<boolean> {
  if (inOwnUserNamespace() || process.getuid?.() === 0) return false;
  const chosen = chooseIsolation(flag);
  if (chosen.mode !== 'rootless') return false;
  checkIsolation('rootless');
  process.exitCode = await runInUserNamespace(selfArgv(), {
    // --root, when given, is in the arguments again and wins over this.
    KILN_ROOT: resolveRoot(undefined),
  });
  return true;
}
