/**
 * Where `kiln serve` listens: `unix://PATH` (mode 0660, group `kiln` when that group exists,
 * else root's), `tcp://ADDR:PORT` (TLS with client certificates required, or plain HTTP only on
 * a loopback address with --insecure), and `fd://` (sockets systemd passes, socket activation).
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';

export const DEFAULT_HOST = 'unix:///run/kiln/kiln.sock';

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface ListenOptions {
  /** Plain HTTP on a loopback TCP address. */
  insecure?: boolean;
  /** --tlsverify: client certificates signed by `tls.ca` are required. */
  tlsVerify?: boolean;
  tls?: TlsFiles;
  /** The group the unix socket belongs to (default: `kiln` if it exists). */
  group?: string;
}

export type Endpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fd' };

function invalidHost(text: string, why: string): KilnError {
  return new KilnError('INVALID_FLAG', `invalid --host "${text}": ${why}`, {
    hint: 'use unix:///run/kiln/kiln.sock, tcp://127.0.0.1:2375 or fd:// (systemd socket activation)',
  });
}

export function parseHost(text: string): Endpoint {
  if (text.startsWith('unix://')) {
    const path = text.slice('unix://'.length);
    if (!path.startsWith('/')) throw invalidHost(text, 'the socket path must be absolute');
    return { kind: 'unix', path };
  }
  if (text === 'fd://') return { kind: 'fd' };
  if (text.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(text);
    if (!m) throw invalidHost(text, 'expected tcp://ADDR:PORT');
    const port = Number(m[2]);
    if (port > 65535) throw invalidHost(text, 'port out of range');
    return { kind: 'tcp', host: m[1].replace(/^\[|\]$/g, ''), port };
  }
  throw invalidHost(text, 'expected unix://, tcp:// or fd://');
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The gid of group `name` from /etc/group, if it exists. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** Systemd's sockets for this process (LISTEN_PID/LISTEN_FDS), from fd 3 on. */
function activationFds(): number[] {
  if (process.env.LISTEN_PID !== String(process.pid)) return [];
  const n = Number(process.env.LISTEN_FDS ?? 0);
  return Array.from({ length: Number.isInteger(n) && n > 0 ? n : 0 }, (_, i) => 3 + i);
}

function listening(server: Server, arg: Parameters<Server['listen']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(arg, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket file left by an earlier run is removed; anything else at the path is refused. */
function clearSocketPath(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (!st.isSocket())
    throw new KilnError('SERVE_SOCKET_PATH', `${path} exists and is not a socket`, {
      hint: 'choose another --host path, or remove the file if it is not needed',
    });
  unlinkSync(path);
}

/** Start listening on `endpoint`; returns the servers (one, or one per activation socket) and their addresses. */
export async function listen(
  endpoint: Endpoint,
  handler: RequestListener,
  opts: ListenOptions,
): Promise<{ servers: Server[]; addresses: string[] }> {
  if (endpoint.kind === 'fd') {
    const fds = activationFds();
    if (fds.length === 0)
      throw new KilnError('SERVE_NO_SOCKETS', 'fd:// given but systemd passed no sockets', {
        hint: 'start kiln serve from a systemd .socket unit, or use --host unix://PATH',
      });
    const servers = fds.map(() => createHttpServer(handler));
    await Promise.all(servers.map((s, i) => listening(s, { fd: fds[i] })));
    return { servers, addresses: fds.map((fd) => `fd://${fd}`) };
  }
  if (endpoint.kind === 'unix') {
    mkdirSync(dirname(endpoint.path), { recursive: true, mode: 0o755 });
    clearSocketPath(endpoint.path);
    const server = createHttpServer(handler);
    // The socket is created with the umask's mode: keep it closed to others from the start,
    // rather than opening it wide and narrowing it after.
    const old = process.umask(0o177);
    try {
      await listening(server, endpoint.path);
    } finally {
      process.umask(old);
    }
    const gid = groupId(opts.group ?? 'kiln');
    if (opts.group && gid === undefined)
      throw new KilnError('SERVE_GROUP', `group "${opts.group}" does not exist`, {
        hint: 'create it (groupadd) or leave out --group',
      });
    chownSync(endpoint.path, 0, gid ?? 0);
    chmodSync(endpoint.path, 0o660);
    return { servers: [server], addresses: [`unix://${endpoint.path}`] };
  }
  const { host, port } = endpoint;
  let server: Server;
  if (opts.tlsVerify) {
    const files = opts.tls ?? {};
    if (!files.ca || !files.cert || !files.key)
      throw new KilnError('SERVE_TLS', '--tlsverify needs --tlscacert, --tlscert and --tlskey', {
        hint: "pass the CA that signs clients' certificates and the server's certificate and key",
      });
    server = createHttpsServer(
      {
        ca: readFileSync(files.ca),
        cert: readFileSync(files.cert),
        key: readFileSync(files.key),
        requestCert: true,
        rejectUnauthorized: true,
      },
      handler,
    ) as unknown as Server;
  } else if (opts.insecure && isLoopback(host)) {
    server = createHttpServer(handler);
  } else {
    throw new KilnError(
      'SERVE_INSECURE',
      `refusing to serve tcp://${host}:${port} without TLS client verification`,
      {
        hint: isLoopback(host)
          ? 'add --insecure to serve plain HTTP on a loopback address, or use --tlsverify with certificates'
          : 'use --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (plain HTTP is allowed only on loopback with --insecure)',
      },
    );
  }
  await listening(server, { host, port });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  const scheme = opts.tlsVerify ? 'tcp+tls' : 'tcp';
  return {
    servers: [server],
    addresses: [`${scheme}://${host.includes(':') ? `[${host}]` : host}:${actual}`],
  };
}
