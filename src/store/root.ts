/**
 * Where kiln keeps its state: `--root`, then $KILN_ROOT, then /var/lib/kiln for root or
 * $XDG_DATA_HOME/kiln (~/.local/share/kiln) for everyone else.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultRoot(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 1000): string {
  if (uid === 0) return '/var/lib/kiln';
  const xdg = env.XDG_DATA_HOME;
  // XDG says a relative XDG_DATA_HOME is invalid and must be ignored.
  if (xdg?.startsWith('/')) return join(xdg, 'kiln');
  return join(env.HOME || homedir(), '.local', 'share', 'kiln');
}

/** The state root to use: the explicit option wins over KILN_ROOT, which wins over the default. */
export function resolveRoot(rootOpt?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (rootOpt) return resolve(rootOpt);
  if (env.KILN_ROOT) return resolve(env.KILN_ROOT);
  return defaultRoot(env);
}
