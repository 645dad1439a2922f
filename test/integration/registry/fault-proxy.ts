/**
 * An HTTP proxy on a real socket in front of a real registry that injects faults: a rule sees
 * each request and may answer with a status (and headers), cut a response off after some bytes,
 * or let it through. Used to test retries, Retry-After and resumed downloads.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { status: number; headers?: Record<string, string> }
  | { dropAfter: number }
  /** Forward this many bytes of the request body upstream, then cut both connections. */
  | { cutRequestAfter: number }
  /** Flip the bits of the response body's byte at this offset (same length, other digest). */
  | { corruptAt: number }
  /** Forward the request only once this settles (a download that stalls while the test acts). */
  | { until: Promise<unknown> }
  | undefined;

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  fault?: string;
}

export interface FaultProxy {
  host: string;
  seen: SeenRequest[];
  /** Decide per request; replace at any time. */
  rule: (req: http.IncomingMessage) => Fault;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamHost: string): Promise<FaultProxy> {
  const [uh, up] = upstreamHost.split(':');
  const proxy: FaultProxy = { host: '', seen: [], rule: () => undefined, close: async () => {} };
  const server = http.createServer((req, res) => {
    const fault = proxy.rule(req);
    proxy.seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      range: req.headers.range,
      fault: fault ? JSON.stringify(fault) : undefined,
    });
    if (fault && 'status' in fault) {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault && 'until' in fault) {
      req.pause();
      void fault.until.finally(() => forward(req, res, undefined));
      return;
    }
    forward(req, res, fault);
  });
  // Requests to the upstream still open: a client cut off (or the proxy closed) leaves one whose
  // response nobody reads, and its socket would keep the test process alive for good.
  const upstreams = new Set<http.ClientRequest>();
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, fault: Fault) => {
    const upstream = http.request(
      {
        host: uh,
        port: Number(up),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstreamHost },
        // A connection per request: none pooled past the proxy's life.
        agent: false,
      },
      (ures) => {
        const headers = { ...ures.headers };
        // Locations point at the upstream; rewrite them to come back through the proxy.
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(`//${upstreamHost}`, `//${proxy.host}`);
        res.writeHead(ures.statusCode ?? 502, headers);
        if (fault && 'corruptAt' in fault) {
          let at = 0;
          ures.on('data', (chunk: Buffer) => {
            const i = fault.corruptAt - at;
            at += chunk.length;
            if (i >= 0 && i < chunk.length) {
              const copy = Buffer.from(chunk);
              copy[i] ^= 0xff;
              res.write(copy);
            } else res.write(chunk);
          });
          ures.on('end', () => res.end());
          return;
        }
        if (fault && 'dropAfter' in fault) {
          let sent = 0;
          ures.on('data', (chunk: Buffer) => {
            if (sent >= fault.dropAfter) return;
            const part = chunk.subarray(0, fault.dropAfter - sent);
            sent += part.length;
            res.write(part);
            if (sent >= fault.dropAfter) {
              ures.destroy();
              // Let the bytes reach the client, then cut the connection mid-body.
              setTimeout(() => res.socket?.destroy(), 20);
            }
          });
          return;
        }
        ures.pipe(res);
      },
    );
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    // The client went away before the upstream answered in full: drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('error', () => res.socket?.destroy());
    if (fault && 'cutRequestAfter' in fault) {
      let sent = 0;
      req.on('data', (chunk: Buffer) => {
        if (sent >= fault.cutRequestAfter) return;
        const part = chunk.subarray(0, fault.cutRequestAfter - sent);
        sent += part.length;
        upstream.write(part);
        if (sent >= fault.cutRequestAfter) {
          setTimeout(() => {
            upstream.destroy();
            res.socket?.destroy();
          }, 50);
        }
      });
      return;
    }
    req.pipe(upstream);
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      for (const u of upstreams) u.destroy();
      server.close(() => r());
    });
  return proxy;
}
