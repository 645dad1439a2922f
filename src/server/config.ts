/**
 * What every route group shares: the state root, the body limits, and a store opened for the
 * length of one request (as each CLI command opens it), so concurrent requests never share a
 * database handle across awaits they do not own.
 */
import { openStore, type Store } from '../store/store.ts';
import type { EventLog } from './events.ts';

export interface ServerConfig {
  /** The state root (`--root`, KILN_ROOT or the default). */
  root?: string;
  /** Most bytes a streamed body (a build context, an archive to load or import) may have. */
  maxBody: number;
  /** What this server did, for `GET /events`. */
  events: EventLog;
}

/** JSON bodies (none of docker's are more than a few KiB). */
export const MAX_JSON_BODY = 1 << 20;

/** Default --max-body: 16 GiB (contexts and archives stream to disk, never into memory). */
export const DEFAULT_MAX_BODY = 16 * 1024 ** 3;

export async function withStore<T>(cfg: ServerConfig, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(cfg.root);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
