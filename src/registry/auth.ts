/**
 * Registry authentication from WWW-Authenticate challenges: Basic, and Bearer per the Docker
 * token spec (anonymous or with credentials, refresh tokens via OAuth2 POST), tokens cached per
 * host and scope until shortly before they expire. Secrets never go into messages.
 */
import { KilnError } from '../errors/errors.ts';
import type { Credentials } from './credentials.ts';
import type { Endpoint } from './hosts.ts';
import { readBody, registryUrl, safeUrl, send } from './transport.ts';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header (`Bearer realm="…",service="…",scope="…"`). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < text.length && chars.test(text[i])) i++;
  };
  while (i < text.length) {
    skip(/[\s,]/);
    const start = i;
    skip(/[A-Za-z0-9_.!#$%&'*+^`|~-]/);
    const word = text.slice(start, i);
    if (word === '') {
      i++;
      continue;
    }
    skip(/\s/);
    if (text[i] !== '=') {
      out.push({ scheme: word.toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
      i++;
    } else {
      const vs = i;
      skip(/[^\s,]/);
      value = text.slice(vs, i);
    }
    if (out.length > 0) out[out.length - 1].params[word.toLowerCase()] = value;
  }
  return out;
}

export type CredentialLookup = (host: string) => Promise<Credentials | undefined>;

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** A token request's scope for a repository: `repository:path:pull` or `…:pull,push`. */
export function repositoryScope(path: string, push: boolean): string {
  return `repository:${path}:${push ? 'pull,push' : 'pull'}`;
}

export class Authenticator {
  private readonly lookup: CredentialLookup;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly basic = new Map<string, string>();
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(lookup: CredentialLookup) {
    this.lookup = lookup;
  }

  private credentialsFor(ep: Endpoint): Promise<Credentials | undefined> {
    // Mirrors carry their own credentials, looked up by their own host.
    const host = ep.mirror ? ep.host.split('/')[0] : ep.host;
    let p = this.creds.get(host);
    if (!p) {
      p = this.lookup(host);
      this.creds.set(host, p);
    }
    return p;
  }

  private key(ep: Endpoint, scopes: string[]): string {
    return `${ep.apiHost}|${[...scopes].sort().join(' ')}`;
  }

  /** The Authorization header to send for a request, if one is known. */
  header(ep: Endpoint, scopes: string[]): string | undefined {
    const t = this.tokens.get(this.key(ep, scopes));
    if (t && t.expiresAt > Date.now()) return t.header;
    return this.basic.get(ep.apiHost);
  }

  /** Forget what we sent: the registry rejected it. */
  invalidate(ep: Endpoint, scopes: string[], sent: string): void {
    const key = this.key(ep, scopes);
    if (this.tokens.get(key)?.header === sent) this.tokens.delete(key);
    if (this.basic.get(ep.apiHost) === sent) this.basic.delete(ep.apiHost);
  }

  /** Answer a 401 challenge: fetch a token or prepare Basic credentials. False when we cannot. */
  async authorize(
    ep: Endpoint,
    wwwAuthenticate: string | string[] | undefined,
    scopes: string[],
    sent?: string,
  ): Promise<boolean> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const key = this.key(ep, scopes);
    // Concurrent requests that met the same challenge share one token fetch.
    const cached = this.tokens.get(key);
    if (bearer && cached && cached.header !== sent && cached.expiresAt > Date.now()) return true;
    const inFlight = this.pending.get(key);
    if (bearer && inFlight) {
      await inFlight;
      return true;
    }
    const creds = await this.credentialsFor(ep);
    if (bearer?.params.realm) {
      const p = this.fetchToken(ep, bearer.params, scopes, creds);
      this.pending.set(key, p);
      try {
        this.tokens.set(key, await p);
      } finally {
        this.pending.delete(key);
      }
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!creds?.username) return false;
      this.basic.set(
        ep.apiHost,
        `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`,
      );
      return true;
    }
    return false;
  }

  private async fetchToken(
    ep: Endpoint,
    params: Record<string, string>,
    scopes: string[],
    creds: Credentials | undefined,
  ): Promise<CachedToken> {
    const realm = registryUrl(params.realm, undefined, `the token realm of ${ep.host}`);
    const started = Date.now();
    let res: Awaited<ReturnType<typeof send>>;
    if (creds?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'kiln',
        scope: scopes.join(' '),
      });
      if (params.service) form.set('service', params.service);
      res = await send(ep, {
        method: 'POST',
        target: realm.href,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
      });
    } else {
      if (params.service) realm.searchParams.set('service', params.service);
      for (const s of scopes) realm.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds?.username) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
        realm.searchParams.set('account', creds.username);
      }
      res = await send(ep, { method: 'GET', target: realm.href, headers });
    }
    const body = await readBody(res, 1 << 20);
    if (res.status !== 200) {
      throw new KilnError(
        res.status === 401 || res.status === 403 ? 'REGISTRY_UNAUTHORIZED' : 'REGISTRY_AUTH_FAILED',
        `token server ${safeUrl(res.url)} for ${ep.host} refused ${scopes.join(' ')}: HTTP ${res.status}`,
        {
          hint: creds
            ? `check the credentials for ${ep.host} (kiln login ${ep.host})`
            : `log in first: kiln login ${ep.host}`,
        },
      );
    }
    let doc: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (cause) {
      throw new KilnError('REGISTRY_AUTH_FAILED', `token server ${safeUrl(res.url)} did not answer JSON`, {
        cause,
      });
    }
    const token = doc.token ?? doc.access_token;
    if (!token)
      throw new KilnError('REGISTRY_AUTH_FAILED', `token server ${safeUrl(res.url)} returned no token`);
    // The spec's default lifetime is 60s; refresh a little early.
    const lifetime = (typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60) * 1000;
    const issued = doc.issued_at ? Date.parse(doc.issued_at) : Number.NaN;
    const base = Number.isFinite(issued) ? Math.min(issued, started) : started;
    return { header: `Bearer ${token}`, expiresAt: base + lifetime - Math.min(10_000, lifetime / 4) };
  }
}
