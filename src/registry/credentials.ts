/**
 * Registry credentials from docker's `config.json` ($DOCKER_CONFIG or ~/.docker): `auths`
 * (base64 user:password or identity tokens), `credsStore` and `credHelpers`
 * (`docker-credential-<name> get|store|erase`). `kiln login`/`logout` write the same file.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`). */
  identityToken?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The key docker uses for Docker Hub in `auths` and credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The `auths` key for a registry host (docker.io maps to Docker Hub's legacy key). */
export function authKey(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io'
    ? DOCKER_HUB_AUTH_KEY
    : host;
}

/** `https://host/v2/` → `host`: config keys come in many spellings. */
function keyHost(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function readConfig(file: string): DockerConfigFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DockerConfigFile;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return {};
    throw new KilnError('INVALID_DOCKER_CONFIG', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'fix or remove the file; it holds registry credentials (docker login writes it)',
    });
  }
}

function writeConfig(file: string, cfg: DockerConfigFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.kiln-${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Run `docker-credential-<helper> <action>` with `input` on stdin. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  const bin = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', (e) => {
      reject(
        new KilnError('CREDENTIAL_HELPER_FAILED', `credential helper ${bin} could not run: ${e.message}`, {
          cause: e,
          hint: `install ${bin} or remove it from credsStore/credHelpers in ${dockerConfigPath()}`,
        }),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      // "credentials not found" is a normal answer for `get`.
      else if (action === 'get' && /credentials not found/i.test(out + err)) resolve('');
      else
        reject(
          new KilnError(
            'CREDENTIAL_HELPER_FAILED',
            `${bin} ${action} failed (exit ${code}): ${(out + err).trim().slice(0, 200)}`,
          ),
        );
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

function helperFor(cfg: DockerConfigFile, host: string): string | undefined {
  const key = authKey(host);
  return cfg.credHelpers?.[host] ?? cfg.credHelpers?.[key] ?? cfg.credsStore;
}

/** Look up credentials for a registry host; undefined when there are none (anonymous). */
export async function getCredentials(
  host: string,
  file = dockerConfigPath(),
): Promise<Credentials | undefined> {
  const cfg = readConfig(file);
  const key = authKey(host);
  const helper = helperFor(cfg, host);
  if (helper) {
    const out = await runHelper(helper, 'get', key);
    if (out.trim() !== '') {
      const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
      if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
      return { username: parsed.Username, password: parsed.Secret };
    }
    // docker falls back to `auths` when a store has nothing for the host.
  }
  const auths = cfg.auths ?? {};
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => keyHost(k) === keyHost(key))?.[1];
  if (!entry) return undefined;
  const creds: Credentials = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new KilnError(
        'INVALID_DOCKER_CONFIG',
        `${file}: the auth entry for ${key} is not base64 of user:password`,
        {
          hint: `run kiln login ${host} again`,
        },
      );
    }
    creds.username = decoded.slice(0, colon);
    creds.password = decoded.slice(colon + 1);
  } else {
    if (entry.username) creds.username = entry.username;
    if (entry.password) creds.password = entry.password;
  }
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  return creds.username || creds.identityToken ? creds : undefined;
}

/** Save credentials for a host (credential helper when configured, else base64 in `auths`). */
export async function storeCredentials(
  host: string,
  creds: Credentials,
  file = dockerConfigPath(),
): Promise<void> {
  const cfg = readConfig(file);
  const key = authKey(host);
  const helper = helperFor(cfg, host);
  if (helper) {
    const secret = creds.identityToken ?? creds.password ?? '';
    await runHelper(
      helper,
      'store',
      JSON.stringify({
        ServerURL: key,
        Username: creds.identityToken ? '<token>' : creds.username,
        Secret: secret,
      }),
    );
    cfg.auths ??= {};
    cfg.auths[key] = {};
  } else {
    cfg.auths ??= {};
    const entry: AuthEntry = {};
    if (creds.username !== undefined)
      entry.auth = Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64');
    if (creds.identityToken) entry.identitytoken = creds.identityToken;
    cfg.auths[key] = entry;
  }
  writeConfig(file, cfg);
}

/** Remove credentials for a host; false when there were none. */
export async function eraseCredentials(host: string, file = dockerConfigPath()): Promise<boolean> {
  const cfg = readConfig(file);
  const key = authKey(host);
  const helper = helperFor(cfg, host);
  let found = false;
  if (helper) {
    try {
      await runHelper(helper, 'erase', key);
      found = true;
    } catch {
      // nothing stored in the helper
    }
  }
  for (const k of Object.keys(cfg.auths ?? {})) {
    if (k === key || keyHost(k) === keyHost(key)) {
      delete cfg.auths?.[k];
      found = true;
    }
  }
  writeConfig(file, cfg);
  return found;
}
