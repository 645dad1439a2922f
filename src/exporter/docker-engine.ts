/**
 * `--load` into a Docker Engine, as buildx's docker driver does: find the engine (DOCKER_HOST,
 * unix:// or tcp://, else /var/run/docker.sock) and check that it answers `GET /_ping`, then
 * stream a docker archive to `POST /images/load` and read its JSON-lines reply, failing with
 * the engine's own message when it reports one. The engine is the user's: trusted, but its
 * replies are still read within bounds.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors/errors.ts';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** How long an engine has to answer the ping before kiln loads into its own store instead. */
const PING_TIMEOUT_MS = 3000;
/** One line of the engine's reply, and the whole error body of a refused request. */
const MAX_LINE = 1 << 20;

export interface Engine {
  /** What the user would call it: unix:///var/run/docker.sock, tcp://host:2375. */
  address: string;
  /** node:http options that reach it. */
  target: { socketPath: string } | { host: string; port: number };
}

/** The engine the environment names, whether or not it is running; undefined when none is named. */
export function engineFromEnv(env: NodeJS.ProcessEnv = process.env): Engine | undefined {
  const host = env.DOCKER_HOST;
  if (!host) {
    return existsSync(DEFAULT_DOCKER_SOCKET)
      ? { address: `unix://${DEFAULT_DOCKER_SOCKET}`, target: { socketPath: DEFAULT_DOCKER_SOCKET } }
      : undefined;
  }
  if (host.startsWith('unix://'))
    return { address: host, target: { socketPath: host.slice('unix://'.length) } };
  if (host.startsWith('tcp://')) {
    let u: URL;
    try {
      u = new URL(`http://${host.slice('tcp://'.length)}`);
    } catch {
      return undefined;
    }
    return {
      address: host,
      target: { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 2375) },
    };
  }
  // ssh:// and npipe:// engines are reached through the docker CLI, which kiln does not run.
  return undefined;
}

/** True when the engine answers `GET /_ping` with 200 in time. */
export function pingEngine(engine: Engine, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request(
      { ...engine.target, method: 'GET', path: '/_ping', timeout: PING_TIMEOUT_MS, signal },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The engine to load into: the one the environment names, if it answers. */
export async function reachableEngine(signal?: AbortSignal): Promise<Engine | undefined> {
  const engine = engineFromEnv();
  return engine && (await pingEngine(engine, signal)) ? engine : undefined;
}

function loadFailed(engine: Engine, message: string, cause?: unknown): KilnError {
  return new KilnError(
    'ENGINE_LOAD_FAILED',
    `loading the image into docker (${engine.address}) failed: ${message}`,
    {
      cause,
      hint: "check the Docker Engine (docker info); or unset DOCKER_HOST / stop it to load into kiln's store",
    },
  );
}

/** The reply's lines, each parsed; a line longer than MAX_LINE is refused rather than held. */
async function* replyLines(
  res: http.IncomingMessage,
  engine: Engine,
): AsyncGenerator<Record<string, unknown>> {
  let pending = '';
  const parse = (line: string) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { stream: line };
    }
  };
  for await (const chunk of res) {
    pending += (chunk as Buffer).toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) yield parse(line);
      nl = pending.indexOf('\n');
    }
    if (pending.length > MAX_LINE) throw loadFailed(engine, `a reply line passed ${MAX_LINE} bytes`);
  }
  if (pending.trim()) yield parse(pending.trim());
}

/**
 * Stream `archive` (a docker-save tar) into the engine. Returns what it reported loading
 * (`Loaded image: app:1`); throws ENGINE_LOAD_FAILED with the engine's message.
 */
export async function loadIntoEngine(
  engine: Engine,
  archive: Readable,
  signal?: AbortSignal,
): Promise<string[]> {
  const req = http.request({
    ...engine.target,
    method: 'POST',
    path: '/images/load?quiet=1',
    headers: { 'Content-Type': 'application/x-tar' },
    signal,
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // The engine may answer (and close) before the upload ends: its message says more than EPIPE.
  const sent = pipeline(archive, req).then(
    () => undefined,
    (err: unknown) => err,
  );
  let res: http.IncomingMessage;
  try {
    res = await response;
  } catch (err) {
    const upload = await sent;
    if (signal?.aborted) throw signal.reason ?? err;
    throw loadFailed(engine, (err as Error).message, upload ?? err);
  }
  const loaded: string[] = [];
  if (res.statusCode !== 200) {
    let body = '';
    for await (const chunk of res) {
      if (body.length < MAX_LINE) body += (chunk as Buffer).toString('utf8');
    }
    let message = body.trim();
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // Not JSON: the body as it came.
    }
    archive.destroy();
    throw loadFailed(engine, `HTTP ${res.statusCode}: ${message.slice(0, 4096)}`);
  }
  for await (const msg of replyLines(res, engine)) {
    const detail = msg.errorDetail as { message?: string } | undefined;
    if (msg.error || detail) {
      archive.destroy();
      throw loadFailed(engine, String(detail?.message ?? msg.error));
    }
    if (typeof msg.stream === 'string' && msg.stream.trim()) loaded.push(msg.stream.trim());
  }
  const upload = await sent;
  if (upload) throw loadFailed(engine, (upload as Error).message, upload);
  return loaded;
}
