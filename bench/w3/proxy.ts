/**
 * A forward HTTP proxy for the W3 bench that measures how long a build waits on the network.
 * Every builder gets `http_proxy`/`https_proxy` build args pointing here (apt fetches over plain
 * HTTP, npm tunnels HTTPS through CONNECT), so the same clock watches every builder's traffic.
 *
 * "Waiting on the network" is the union over time of upstream exchanges: a plain HTTP request
 * from the moment it is forwarded until its response's last byte; a CONNECT tunnel from the
 * moment it is asked for until it is open, then from each burst of client bytes until the last
 * upstream byte that follows, a burst ending after 200 ms without bytes either way (so an idle
 * keep-alive connection counts nothing). Whatever the build does meanwhile (unpacking, compiling)
 * overlaps and is not subtracted: this is wall time during which at least one fetch was open.
 *
 * It listens on every address (RUN steps reach it from their own network namespaces: Docker's
 * bridge, kiln's slirp4netns) but serves only this machine's own addresses and its bridges'
 * subnets, and only ports 80 and 443 upstream.
 */
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces } from 'node:os';

const IDLE_MS = 200;

export interface NetWindow {
  /** Seconds with at least one upstream exchange open. */
  busySeconds: number;
  requests: number;
  tunnels: number;
  bytes: number;
}

/** The address RUN steps reach the host at: the source address of the default route. */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal && !/^172\.(1[6-9]|2\d|3[01])\./.test(a.address))
        return a.address;
  throw new Error('bench/w3: no non-loopback IPv4 address for the proxy');
}

function allowed(remote: string | undefined): boolean {
  const ip = (remote ?? '').replace(/^::ffff:/, '');
  if (ip === '127.0.0.1' || ip === '::1') return true;
  for (const [name, list] of Object.entries(networkInterfaces()))
    for (const a of list ?? []) {
      if (a.family !== 'IPv4') continue;
      if (a.address === ip) return true;
      // Docker's and buildah's bridges: anything in their subnet is a container on this machine.
      if (
        (name.startsWith('docker') || name.startsWith('br-') || name.startsWith('cni')) &&
        sameSubnet(ip, a.address, a.netmask)
      )
        return true;
    }
  return false;
}

function sameSubnet(a: string, b: string, mask: string): boolean {
  const n = (s: string) => s.split('.').reduce((x, o) => (x << 8) | Number(o), 0) >>> 0;
  return net.isIPv4(a) && (n(a) & n(mask)) === (n(b) & n(mask));
}

export class CountingProxy {
  private readonly server: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  /** Closed exchange intervals [start, end] in ms (performance.now()). */
  private readonly spans: [number, number][] = [];
  private readonly open = new Set<{ start: number }>();
  /** Tunnel bursts not yet closed: [first byte or request, last byte]. */
  private readonly bursts = new Set<{ start: number; last: number }>();
  private requests = 0;
  private tunnels = 0;
  private bytes = 0;
  port = 0;

  constructor() {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('connect', (req, socket, head) => this.tunnel(req, socket as net.Socket, head));
    this.server.on('connection', (s) => {
      if (!allowed(s.remoteAddress)) s.destroy();
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '0.0.0.0', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
    this.agent.destroy();
  }

  private span(start: number, end: number): void {
    if (end > start) this.spans.push([start, end]);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL expected');
      return;
    }
    if (url.protocol !== 'http:' || (url.port && url.port !== '80')) {
      res.writeHead(403).end('only http:80');
      return;
    }
    this.requests++;
    const ex = { start: performance.now() };
    this.open.add(ex);
    const done = () => {
      if (!this.open.delete(ex)) return;
      this.span(ex.start, performance.now());
    };
    const headers = { ...req.headers };
    for (const h of ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive'])
      delete headers[h];
    const up = http.request(
      {
        host: url.hostname,
        port: 80,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        agent: this.agent,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.on('data', (b: Buffer) => (this.bytes += b.length));
        ur.pipe(res);
        ur.on('end', done);
        ur.on('error', done);
      },
    );
    up.on('error', (err) => {
      done();
      if (!res.headersSent) res.writeHead(502).end(err.message);
      else res.destroy();
    });
    res.on('close', done);
    req.pipe(up);
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    const [host, portText] = (req.url ?? '').split(/:(?=\d+$)/);
    if (portText !== '443' || !host) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    this.tunnels++;
    const asked = performance.now();
    const up = net.connect(443, host);
    let burst: { start: number; last: number } | undefined;
    let lastClient = asked;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      if (!burst) return;
      this.bursts.delete(burst);
      this.span(burst.start, burst.last);
      burst = undefined;
    };
    const activity = (fromClient: boolean) => {
      const now = performance.now();
      if (!burst) {
        // A response after a quiet spell belongs to the request before it: its wait counts.
        burst = { start: fromClient ? now : Math.max(lastClient, now - IDLE_MS), last: now };
        this.bursts.add(burst);
      }
      if (fromClient) lastClient = now;
      burst.last = now;
      clearTimeout(timer);
      timer = setTimeout(flush, IDLE_MS);
    };
    up.on('connect', () => {
      this.span(asked, performance.now());
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      client.on('data', (b: Buffer) => {
        activity(true);
        up.write(b);
      });
      up.on('data', (b: Buffer) => {
        activity(false);
        this.bytes += b.length;
        client.write(b);
      });
    });
    const end = () => {
      clearTimeout(timer);
      flush();
      up.destroy();
      client.destroy();
    };
    // Half-closes pass through (the HTTP server's sockets allow them), then both go.
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    up.on('error', end);
    up.on('close', end);
    client.on('error', end);
    client.on('close', end);
  }

  /** A mark to measure from: what `since` reports counts from here. */
  mark(): { at: number; requests: number; tunnels: number; bytes: number } {
    return { at: performance.now(), requests: this.requests, tunnels: this.tunnels, bytes: this.bytes };
  }

  /** The network wait between `m` and now (exchanges still open count up to now). */
  since(m: ReturnType<CountingProxy['mark']>): NetWindow {
    const now = performance.now();
    const spans = [
      ...this.spans,
      ...[...this.open].map((e) => [e.start, now] as [number, number]),
      ...[...this.bursts].map((b) => [b.start, b.last] as [number, number]),
    ]
      .map(([a, b]) => [Math.max(a, m.at), Math.min(b, now)] as [number, number])
      .filter(([a, b]) => b > a)
      .sort((x, y) => x[0] - y[0]);
    let busy = 0;
    let curA = -1;
    let curB = -1;
    for (const [a, b] of spans) {
      if (a > curB) {
        busy += curB - curA;
        curA = a;
        curB = b;
      } else curB = Math.max(curB, b);
    }
    busy += curB - curA;
    return {
      busySeconds: busy / 1000,
      requests: this.requests - m.requests,
      tunnels: this.tunnels - m.tunnels,
      bytes: this.bytes - m.bytes,
    };
  }
}
