/**
 * Registry access on behalf of a client: the credentials it sends (`X-Registry-Auth`, base64url
 * JSON of username/password/identitytoken/serveraddress; `X-Registry-Config`, a map of such by
 * registry) and nothing else. The server's own docker config is never used for a client: a user
 * of the socket must not push or pull with root's logins.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CredentialLookup } from '../registry/auth.ts';
import { RegistryClient } from '../registry/client.ts';
import type { Credentials } from '../registry/credentials.ts';
import { defaultRegistryConfigPath, loadRegistryConfig } from '../registry/hosts.ts';
import { resolveRoot } from '../store/root.ts';
import { HttpError } from './api.ts';

interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  identitytoken?: string;
  serveraddress?: string;
}

function decodeHeader(text: string, name: string): unknown {
  try {
    return JSON.parse(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new HttpError(400, 'INVALID_REGISTRY_AUTH', `the ${name} header is not base64-encoded JSON`);
  }
}

function credentialsOf(a: AuthConfig): Credentials | undefined {
  let { username, password } = a;
  if (!username && a.auth) {
    const plain = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) [username, password] = [plain.slice(0, i), plain.slice(i + 1)];
  }
  if (!username && !password && !a.identitytoken) return undefined;
  return { username, password, identityToken: a.identitytoken };
}

/** The host an auth entry is for: `https://index.docker.io/v1/` → docker.io, `host:port/…` → host:port. */
function hostOf(address: string): string {
  const h = address.replace(/^https?:\/\//, '').split('/')[0];
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

const sameHost = (a: string, b: string) => hostOf(a) === hostOf(b);

/** Credentials from `X-Registry-Auth` (one registry) and `X-Registry-Config` (several). */
export function clientCredentials(headers: IncomingHttpHeaders): CredentialLookup {
  const entries: { address?: string; creds: Credentials }[] = [];
  const auth = headers['x-registry-auth'];
  if (typeof auth === 'string' && auth !== '') {
    const a = decodeHeader(auth, 'X-Registry-Auth') as AuthConfig;
    const creds = a && credentialsOf(a);
    if (creds) entries.push({ address: a.serveraddress || undefined, creds });
  }
  const config = headers['x-registry-config'];
  if (typeof config === 'string' && config !== '') {
    const map = decodeHeader(config, 'X-Registry-Config') as Record<string, AuthConfig>;
    for (const [address, a] of Object.entries(map ?? {})) {
      const creds = a && credentialsOf(a);
      if (creds) entries.push({ address, creds });
    }
  }
  return async (host) => {
    const hit =
      entries.find((e) => e.address && sameHost(e.address, host)) ?? entries.find((e) => !e.address);
    return hit?.creds;
  };
}

/** A registry client for one request: the root's registries.toml, the client's credentials. */
export function clientRegistry(
  root: string | undefined,
  headers: IncomingHttpHeaders,
  signal: AbortSignal,
): RegistryClient {
  return new RegistryClient({
    config: loadRegistryConfig(defaultRegistryConfigPath(resolveRoot(root))),
    credentials: clientCredentials(headers),
    signal,
  });
}
