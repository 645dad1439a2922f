/**
 * A small Docker token server for tests (real socket): issues RS256 JWTs signed with a key whose
 * self-signed certificate goes into the registry's rootcertbundle, as docker/distribution checks.
 */
import { createPrivateKey, createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../../../src/testing/registry.ts';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Token requests seen: scope list and the user (or 'anonymous'). */
  requests: { scopes: string[]; user: string }[];
  close(): Promise<void>;
}

/** The identity (refresh) token the server accepts for the known user. */
export const REFRESH_TOKEN = 'kiln-refresh-token';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(opts: {
  user: string;
  password: string;
  expiresIn?: number;
}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-token-'));
  selfSignedCertificate('kiln token signer', join(dir, 'key.pem'), join(dir, 'cert.pem'));
  const key = createPrivateKey(readFileSync(join(dir, 'key.pem')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'cert.pem'))).raw;
  const service = 'kiln-test-registry';
  const issuer = 'kiln-test-issuer';
  const requests: TokenServer['requests'] = [];

  const issue = (
    res: http.ServerResponse,
    scopes: string[],
    user: string,
    field: 'token' | 'access_token',
  ) => {
    requests.push({ scopes, user });
    // Anonymous users may pull; the known user may pull and push.
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':');
      const asked = actions.split(',');
      return { type, name, actions: user === 'anonymous' ? asked.filter((a) => a === 'pull') : asked };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: user,
      aud: service,
      exp: now + (opts.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(key);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        [field]: `${signing}.${b64url(sig)}`,
        expires_in: opts.expiresIn ?? 300,
        issued_at: new Date().toISOString(),
      }),
    );
  };

  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant, as docker uses for identity tokens.
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        const form = new URLSearchParams(body);
        if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== REFRESH_TOKEN) {
          res.writeHead(401).end();
          return;
        }
        issue(res, (form.get('scope') ?? '').split(' ').filter(Boolean), opts.user, 'access_token');
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    let user = 'anonymous';
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u !== opts.user || p !== opts.password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      user = u;
    }
    issue(res, scopes, user, 'token');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: join(dir, 'cert.pem'),
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}
