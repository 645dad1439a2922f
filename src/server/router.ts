/**
 * Requests to handlers: the API version prefix (`/v1.41/…`, or none for the newest) is checked
 * and stripped, the path matched against each route group's table, and whatever kiln does not
 * serve (containers, volumes, swarm…) answered 501 with a message naming kiln and the endpoint.
 * An error before a handler started its response becomes docker's `{"message": …}` body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_VERSION, compareVersions, HttpError, MIN_API_VERSION, messageOf, statusOf } from './api.ts';

/** What every handler gets: the request, its path without the version, and the server's state. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The path without the version prefix, e.g. /images/busybox/json. */
  path: string;
  query: URLSearchParams;
  /** The capture groups of the route's pattern, URL-decoded. */
  params: string[];
  /** The API version the client asked for (the newest when it named none). */
  apiVersion: string;
  /** Aborted when the client goes away or the server gives up on running work. */
  signal: AbortSignal;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

export interface Route {
  methods: string[];
  /** Matched against the whole path; groups become `params`. */
  pattern: RegExp;
  handler: Handler;
}

/** Send a JSON body (docker's responses are compact JSON with a trailing newline). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    // Mid-response there is no way to say what failed but to cut the response short.
    res.destroy();
    return;
  }
  sendJson(res, statusOf(err), { message: messageOf(err) });
}

const VERSIONED = /^\/v(\d+\.\d+)(\/.*)$/;

export class Router {
  private readonly routes: Route[] = [];

  add(routes: Route[]): this {
    this.routes.push(...routes);
    return this;
  }

  /** Handle one request; never rejects (a failure is the response). */
  async dispatch(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://kiln');
      let path = url.pathname;
      let apiVersion = API_VERSION;
      const m = VERSIONED.exec(path);
      if (m) {
        apiVersion = m[1];
        path = m[2];
        if (compareVersions(apiVersion, API_VERSION) > 0)
          throw new HttpError(
            400,
            'API_VERSION',
            `client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`,
          );
        if (compareVersions(apiVersion, MIN_API_VERSION) < 0)
          throw new HttpError(
            400,
            'API_VERSION',
            `client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
          );
      }
      const method = req.method ?? 'GET';
      for (const r of this.routes) {
        const pm = r.pattern.exec(path);
        if (!pm || !r.methods.includes(method)) continue;
        const params = pm.slice(1).map((p) => decodeURIComponent(p ?? ''));
        await r.handler({ req, res, method, path, query: url.searchParams, params, apiVersion, signal });
        return;
      }
      throw new HttpError(
        501,
        'NOT_SERVED',
        `kiln does not serve ${method} ${path}: kiln builds and stores images; it has no containers, volumes, networks or swarm`,
        'use kiln for docker build, images, tag, push, pull, save, load and rmi',
      );
    } catch (err) {
      // A request body nobody read is drained, so a keep-alive connection stays usable.
      if (!req.readableEnded) req.resume();
      sendError(res, err);
    }
  }
}
