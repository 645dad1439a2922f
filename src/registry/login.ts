/**
 * `login` and `logout` as library calls: check credentials against the registry's /v2/ (Basic or
 * a scope-less Bearer token, as docker does), then save or erase them in docker's config.
 */
import { KilnError } from '../errors/errors.ts';
import { parseReference } from '../reference/reference.ts';
import { RegistryClient } from './client.ts';
import { type Credentials, dockerConfigPath, eraseCredentials, storeCredentials } from './credentials.ts';

/** `https://index.docker.io/v1/`, `registry.example.com:5000/`, `localhost:5000` → a registry host. */
export function loginHost(server: string): string {
  let s = server.trim().replace(/^https?:\/\//, '');
  s = s.replace(/\/.*$/, '');
  if (s === '' || s === 'index.docker.io' || s === 'registry-1.docker.io') return 'docker.io';
  // Validate the host with the reference grammar.
  try {
    return parseReference(`${s}/x`).domain;
  } catch (cause) {
    throw new KilnError('INVALID_REGISTRY_HOST', `"${server}" is not a registry host`, {
      cause,
      hint: 'write e.g. registry.example.com or localhost:5000',
    });
  }
}

/** Verify credentials with the registry and save them; returns the host they were saved for. */
export async function loginRegistry(
  client: RegistryClient,
  server: string,
  creds: Credentials,
  configFile = dockerConfigPath(),
): Promise<string> {
  const host = loginHost(server);
  const checker = new RegistryClient({
    config: client.config,
    retry: client.retry,
    credentials: async () => creds,
  });
  await checker.ping(host);
  await storeCredentials(host, creds, configFile);
  return host;
}

export async function logoutRegistry(
  server: string,
  configFile = dockerConfigPath(),
): Promise<{ host: string; removed: boolean }> {
  const host = loginHost(server);
  return { host, removed: await eraseCredentials(host, configFile) };
}
