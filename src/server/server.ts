/**
 * `kiln serve`'s engine: the routes behind one router, served on every --host, each request with
 * its own AbortSignal (aborted when its client goes away) and logged when it ends. `stop()` is
 * the graceful shutdown: no new connections, running requests get `graceMs` to finish, then
 * their signals abort and the server waits for their cleanup.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { KilnError } from '../errors/errors.ts';
import { sweepLeftovers } from '../store/leftovers.ts';
import { resolveRoot } from '../store/root.ts';
import { DEFAULT_MAX_BODY, type ServerConfig } from './config.ts';
import { EventLog } from './events.ts';
import { type ListenOptions, listen, parseHost } from './listen.ts';
import { Router } from './router.ts';
import { buildRoutes } from './routes-build.ts';
import { imageRoutes } from './routes-images.ts';
import { systemRoutes } from './routes-system.ts';

export interface ServeOptions extends ListenOptions {
  hosts: string[];
  root?: string;
  maxBody?: number;
  /** A line per request (default: none). */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** Where it listens, e.g. unix:///run/kiln/kiln.sock, tcp://127.0.0.1:2375. */
  addresses: string[];
  /** Requests being served. */
  readonly inFlight: number;
  /** Stop accepting; give running requests `graceMs`, then cancel them and wait for them to end. */
  stop(graceMs: number): Promise<void>;
}

interface InFlight {
  abort: AbortController;
  done: Promise<void>;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const cfg: ServerConfig = {
    root: opts.root,
    maxBody: opts.maxBody ?? DEFAULT_MAX_BODY,
    events: new EventLog(),
  };
  const endpoints = opts.hosts.map(parseHost);
  // What a killed kiln left in the root (a mounted secrets tmpfs, a runc container) goes first.
  await sweepLeftovers(resolveRoot(opts.root));
  const router = new Router().add(systemRoutes(cfg)).add(imageRoutes(cfg)).add(buildRoutes(cfg));
  const running = new Set<InFlight>();
  const log = opts.log ?? (() => {});

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = Date.now();
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished)
        abort.abort(
          new KilnError('CANCELED', 'the client disconnected', { hint: 'the request was canceled' }),
        );
    });
    const entry: InFlight = { abort, done: Promise.resolve() };
    entry.done = router.dispatch(req, res, abort.signal).finally(() => {
      running.delete(entry);
      const gone = res.writableFinished ? '' : ' (client gone)';
      log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms${gone}`);
    });
    running.add(entry);
  };

  const servers: Server[] = [];
  const addresses: string[] = [];
  try {
    for (const e of endpoints) {
      const l = await listen(e, handle, opts);
      servers.push(...l.servers);
      addresses.push(...l.addresses);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  for (const s of servers) {
    // A context upload may take longer than Node's 5-minute default for a whole request; idle
    // connections are still closed (keep-alive timeout) and headers must come within a minute.
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
  }

  return {
    addresses,
    get inFlight() {
      return running.size;
    },
    async stop(graceMs: number) {
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of servers) s.closeIdleConnections();
      const all = () => Promise.all([...running].map((r) => r.done));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<'grace'>((r) => {
        timer = setTimeout(() => r('grace'), graceMs);
      });
      if ((await Promise.race([all(), grace])) === 'grace') {
        const reason = new KilnError('CANCELED', 'kiln serve is shutting down', {
          hint: 'the server stopped; run the request again once it is back',
        });
        for (const r of running) r.abort.abort(reason);
        await all();
      }
      clearTimeout(timer);
      for (const s of servers) s.closeAllConnections();
      await closed;
    },
  };
}
