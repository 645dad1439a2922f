/**
 * One HTTP exchange with a registry over node:http/https: per-endpoint agents (extra CAs, client
 * certificates, skip-verify), idle timeouts, and redirects for reads (dropping credentials when the
 * origin changes, as blob storage redirects need). Retries and auth live in client.ts.
 */
import type * as HttpModule from 'node:http';
import type { Agent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type * as HttpsModule from 'node:https';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type * as TlsModule from 'node:tls';
import { KilnError } from '../errors/errors.ts';
import type { Endpoint } from './hosts.ts';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path (with query) below the endpoint, or an absolute URL (upload Locations, token realms). */
  target: string;
  headers?: Record<string, string>;
  /**
   * A buffer, or a factory so the body can be sent again on retry, or a stream sent as it is
   * read (once: a request with one is never retried; give its length in `content-length`).
   */
  body?: Buffer | (() => Readable) | Readable;
  /**
   * Milliseconds without a byte moving either way (headers, body, upload) before the request
   * fails with REGISTRY_STALLED; default: the endpoint's `idle-timeout`, else
   * KILN_REGISTRY_IDLE_TIMEOUT (seconds), else 60 s.
   */
  idleTimeoutMs?: number;
  /** Aborting destroys the request (and its response body). */
  signal?: AbortSignal;
}

/** The idle timeout when neither the request nor the registry's config sets one. */
export function defaultIdleTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.KILN_REGISTRY_IDLE_TIMEOUT;
  if (v === undefined || v === '') return 60_000;
  const seconds = Number(v);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new KilnError(
      'INVALID_REGISTRY_CONFIG',
      `KILN_REGISTRY_IDLE_TIMEOUT=${v} is not a number of seconds`,
      {
        hint: 'set it to a positive number of seconds, e.g. KILN_REGISTRY_IDLE_TIMEOUT=30',
      },
    );
  }
  return seconds * 1000;
}

/**
 * A registry that sent nothing for the idle timeout: not retried, since a stopped or wedged
 * server would cost the timeout again for every attempt.
 */
export function stalledError(ep: Endpoint, req: HttpRequest, url: URL, idleMs: number): KilnError {
  return new KilnError(
    'REGISTRY_STALLED',
    `${req.method} ${safeUrl(url)}: registry ${ep.host} moved no data for ${idleMs / 1000}s`,
    {
      hint: `check that the registry is up; on a slow link raise idle-timeout (seconds) under [registry."${ep.host}"] in the registry config, or KILN_REGISTRY_IDLE_TIMEOUT`,
    },
  );
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

/** A network-level failure (refused, reset, timed out): the kind retries are for. */
export class TransportError extends KilnError {
  constructor(message: string, cause?: unknown) {
    super('REGISTRY_UNREACHABLE', message, {
      cause,
      hint: 'check the registry address, that it is running, and your network',
    });
  }
}

/**
 * node:http and node:https, loaded on first use through require: importing node:http as an ES
 * module builds its ESM facade, which reads every export getter and so loads Node's bundled
 * undici (~50 ms) — a cost every kiln command paid, registry or not.
 */
const load = createRequire(import.meta.url);
let httpModule: typeof HttpModule | undefined;
let httpsModule: typeof HttpsModule | undefined;
/** node:https (and node:tls) only for https URLs: loading them costs 8–28 ms a plain-HTTP registry never needs. */
function net(protocol: string): typeof HttpModule | typeof HttpsModule {
  if (protocol === 'https:') return (httpsModule ??= load('node:https') as typeof HttpsModule);
  return (httpModule ??= load('node:http') as typeof HttpModule);
}

const agents = new Map<string, Agent>();

function agentFor(ep: Endpoint, url: URL): Agent {
  const sameHost = url.host === ep.apiHost;
  const key = `${url.protocol}//${url.host}|${sameHost ? `${ep.insecure}|${ep.ca.length}|${ep.keypairs.length}|${ep.host}` : ''}`;
  let agent = agents.get(key);
  if (!agent) {
    if (url.protocol === 'http:') {
      agent = new (net('http:') as typeof HttpModule).Agent({ keepAlive: true, maxSockets: 16 });
    } else {
      // Extra CAs add to the system roots; only the registry's own host gets its TLS settings.
      const ca =
        sameHost && ep.ca.length > 0
          ? [
              ...(load('node:tls') as typeof TlsModule).rootCertificates,
              ...ep.ca.map((b) => b.toString('utf8')),
            ]
          : undefined;
      const kp = sameHost ? ep.keypairs[0] : undefined;
      agent = new (net('https:') as typeof HttpsModule).Agent({
        keepAlive: true,
        maxSockets: 16,
        ca,
        cert: kp?.cert,
        key: kp?.key,
        rejectUnauthorized: !(sameHost && ep.insecure),
      });
    }
    agents.set(key, agent);
  }
  return agent;
}

/** The absolute URL of a request target on an endpoint. */
export function endpointUrl(ep: Endpoint, target: string): URL {
  if (/^https?:\/\//.test(target)) return new URL(target);
  return new URL(`${ep.scheme}://${ep.apiHost}${ep.pathPrefix}${target}`);
}

/**
 * A URL a registry handed us (a redirect, an upload Location, a token realm), resolved against
 * `base`: anything that is not http(s) or does not parse is REGISTRY_ERROR, not a TypeError.
 */
export function registryUrl(location: string, base: URL | string | undefined, what: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(location, base);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new KilnError(
      'REGISTRY_ERROR',
      `${what}: the registry sent an unusable URL ${JSON.stringify(location.slice(0, 200))}`,
      {
        hint: 'the registry (or something in front of it) is misbehaving',
      },
    );
  }
  return url;
}

/** JSON a registry sent, parsed; REGISTRY_INVALID_JSON names `what` when it is not JSON. */
export function parseRegistryJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new KilnError('REGISTRY_INVALID_JSON', `${what} is not valid JSON`, {
      cause,
      hint: 'the registry served corrupted or unexpected content',
    });
  }
}

/** A URL printable in messages: no query (upload state), no userinfo. */
export function safeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function once(
  ep: Endpoint,
  url: URL,
  req: HttpRequest,
  headers: Record<string, string>,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const mod = net(url.protocol);
    const body = typeof req.body === 'function' ? req.body() : req.body;
    const hdrs: Record<string, string> = { 'user-agent': 'kiln/0.1', ...headers };
    if (Buffer.isBuffer(body)) hdrs['content-length'] = String(body.length);
    else if (body === undefined && ['PUT', 'POST', 'PATCH'].includes(req.method))
      hdrs['content-length'] = '0';
    const r = mod.request(
      url,
      {
        method: req.method,
        headers: hdrs,
        agent: agentFor(ep, url),
        servername: url.hostname.startsWith('[') ? undefined : url.hostname,
        signal: req.signal,
      },
      (res) => {
        response = res;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      },
    );
    let response: IncomingMessage | undefined;
    // The socket's idle timer covers the whole exchange: the request body going up, the
    // headers, and the response body coming down (a reader of that body gets the error too).
    const idle = req.idleTimeoutMs ?? ep.idleTimeoutMs ?? defaultIdleTimeoutMs();
    r.setTimeout(idle, () => {
      const err = stalledError(ep, req, url, idle);
      response?.destroy(err);
      r.destroy(err);
    });
    r.on('error', (err) => {
      if (err instanceof KilnError) reject(err);
      else reject(classify(err as NodeJS.ErrnoException, req, url, ep));
    });
    if (body === undefined || Buffer.isBuffer(body)) {
      r.end(body);
    } else {
      body.on('error', (err) => r.destroy(err));
      body.pipe(r);
    }
  });
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS trust and protocol mix-ups are not transient: report them with the config that fixes them. */
function classify(err: NodeJS.ErrnoException, req: HttpRequest, url: URL, ep: Endpoint): KilnError {
  const msg = `${req.method} ${safeUrl(url)}: ${err.message}`;
  if (err.code && TLS_TRUST_CODES.has(err.code)) {
    return new KilnError('REGISTRY_TLS', `${msg} (${err.code})`, {
      cause: err,
      hint: `trust the registry's CA with ca = ["/path/ca.pem"] (or insecure = true) under [registry."${ep.host}"] in the registry config`,
    });
  }
  if (
    url.protocol === 'https:' &&
    (err.code === 'EPROTO' || /wrong version number|packet length too long/i.test(err.message))
  ) {
    return new KilnError('REGISTRY_TLS', `${msg}: the server does not speak TLS`, {
      cause: err,
      hint: `if ${ep.host} serves plain HTTP, set http = true under [registry."${ep.host}"] in the registry config`,
    });
  }
  return new TransportError(msg, err);
}

/** Send one request; GET and HEAD follow up to 5 redirects. */
export async function send(ep: Endpoint, req: HttpRequest): Promise<HttpResponse> {
  let url = endpointUrl(ep, req.target);
  const origin = url.origin;
  let headers = { ...(req.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    const res = await once(ep, url, req, headers);
    const loc = res.headers.location;
    if (
      !(req.method === 'GET' || req.method === 'HEAD') ||
      ![301, 302, 303, 307, 308].includes(res.status) ||
      !loc ||
      hop >= 5
    )
      return res;
    res.body.resume();
    url = registryUrl(loc, url, `${req.method} ${safeUrl(url)} redirected`);
    if (url.origin !== origin) {
      // Never hand registry credentials to blob storage on another origin.
      const { authorization: _drop, ...rest } = headers;
      headers = rest;
    }
  }
}

/** Read a (small) response body whole, at most `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    n += (chunk as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw new KilnError(
        'REGISTRY_ERROR',
        `response from ${safeUrl(res.url)} is larger than ${limit} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Discard a response body (so the socket can be reused); past `limit` bytes the connection is
 * dropped instead: a body that never ends kept a push waiting for ever.
 */
export async function drain(res: HttpResponse, limit = 1 << 20): Promise<void> {
  let n = 0;
  try {
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > limit) {
        res.body.destroy();
        return;
      }
    }
  } catch {
    // a broken body on a response we ignore does not matter
  }
}
