/**
 * Per-registry connection settings, in the spirit of buildkitd.toml: mirrors, plain HTTP,
 * skip-verify, extra CAs and client key pairs, read from a TOML file
 * (`$KILN_ROOT/registries.toml` or `--registry-config`). Loopback hosts speak plain HTTP by
 * default, as docker does.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { isErrno, KilnError } from '../errors/errors.ts';

export interface KeyPair {
  key: string;
  cert: string;
}

/** Settings for one registry host (`host[:port]`, as written in references). */
export interface HostConfig {
  /** Hosts (`host[:port]`, optionally with a path prefix) to try first for pulls. */
  mirrors?: string[];
  /** Speak plain HTTP. */
  http?: boolean;
  /** Do not verify the server's TLS certificate. */
  insecure?: boolean;
  /** Extra CA certificate files (PEM) to trust. */
  ca?: string[];
  /** Client certificates for mutual TLS. */
  keypair?: KeyPair[];
  /** Seconds without any data moving before a request fails (`idle-timeout`). */
  idleTimeout?: number;
}

export interface RegistryConfig {
  hosts: Record<string, HostConfig>;
}

/** One way of reaching a registry: the resolved connection settings for a host. */
export interface Endpoint {
  /** The host as references name it (docker.io, localhost:5000). */
  host: string;
  /** The host[:port] actually dialled (registry-1.docker.io for docker.io). */
  apiHost: string;
  /** Path prefix before /v2/ (mirrors may live under a path); '' normally. */
  pathPrefix: string;
  scheme: 'http' | 'https';
  insecure: boolean;
  ca: Buffer[];
  keypairs: { key: Buffer; cert: Buffer }[];
  /** True for a mirror endpoint (pull only). */
  mirror: boolean;
  /** From `idle-timeout`: milliseconds without data before a request fails. */
  idleTimeoutMs?: number;
}

export const DOCKER_HUB_HOST = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

/** The default config file path for a state root. */
export function defaultRegistryConfigPath(root: string): string {
  return join(root, 'registries.toml');
}

function bad(file: string, message: string): KilnError {
  return new KilnError('INVALID_REGISTRY_CONFIG', `${file}: ${message}`, {
    hint: 'write e.g. [registry."myhost:5000"] with http = true, insecure = true, ca = ["/path/ca.pem"], mirrors = ["mirror:5000"], idle-timeout = 60',
  });
}

function stringList(file: string, where: string, v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw bad(file, `${where} must be a list of strings`);
  return v as string[];
}

/** Parse the TOML text of a registry config. */
export function parseRegistryConfig(text: string, file = 'registries.toml'): RegistryConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (cause) {
    throw new KilnError('INVALID_REGISTRY_CONFIG', `${file}: ${(cause as Error).message}`, { cause });
  }
  const hosts: Record<string, HostConfig> = {};
  const section = doc.registry;
  if (section === undefined) return { hosts };
  if (typeof section !== 'object' || section === null || Array.isArray(section))
    throw bad(file, '"registry" must be a table');
  for (const [host, raw] of Object.entries(section as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw bad(file, `registry."${host}" must be a table`);
    const r = raw as Record<string, unknown>;
    const cfg: HostConfig = {};
    for (const key of Object.keys(r)) {
      if (!['mirrors', 'http', 'insecure', 'ca', 'keypair', 'idle-timeout'].includes(key))
        throw bad(file, `registry."${host}": unknown setting "${key}"`);
    }
    cfg.mirrors = stringList(file, `registry."${host}".mirrors`, r.mirrors);
    cfg.ca = stringList(file, `registry."${host}".ca`, r.ca);
    for (const flag of ['http', 'insecure'] as const) {
      if (r[flag] !== undefined) {
        if (typeof r[flag] !== 'boolean') throw bad(file, `registry."${host}".${flag} must be true or false`);
        cfg[flag] = r[flag];
      }
    }
    const idle = r['idle-timeout'];
    if (idle !== undefined) {
      if (typeof idle !== 'number' || !Number.isFinite(idle) || idle <= 0)
        throw bad(file, `registry."${host}".idle-timeout must be a positive number of seconds`);
      cfg.idleTimeout = idle;
    }
    if (r.keypair !== undefined) {
      if (!Array.isArray(r.keypair))
        throw bad(
          file,
          `registry."${host}".keypair must be an array of tables ([[registry."${host}".keypair]])`,
        );
      cfg.keypair = r.keypair.map((kp: unknown) => {
        const k = kp as Record<string, unknown>;
        if (typeof k?.key !== 'string' || typeof k?.cert !== 'string')
          throw bad(file, `registry."${host}".keypair entries need key and cert file paths`);
        return { key: k.key, cert: k.cert };
      });
    }
    hosts[host] = cfg;
  }
  return { hosts };
}

/** Read a registry config file; a missing file is an empty config unless `required`. */
export function loadRegistryConfig(file: string, required = false): RegistryConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') && !required) return { hosts: {} };
    throw new KilnError(
      'INVALID_REGISTRY_CONFIG',
      `cannot read registry config ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parseRegistryConfig(text, file);
}

/** The bare host name of `host[:port]` (brackets of IPv6 removed). */
export function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}

/** True for localhost, 127.0.0.0/8 and ::1, which docker reaches over plain HTTP by default. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1' || name === '0:0:0:0:0:0:0:1';
}

function readFiles(files: string[] | undefined, what: string, host: string): Buffer[] {
  return (files ?? []).map((f) => {
    try {
      return readFileSync(f);
    } catch (cause) {
      throw new KilnError('INVALID_REGISTRY_CONFIG', `registry "${host}": cannot read ${what} file ${f}`, {
        cause,
        hint: 'fix the path in the registry config',
      });
    }
  });
}

function endpoint(host: string, cfg: HostConfig | undefined, mirror: boolean): Endpoint {
  let apiHost = host;
  let pathPrefix = '';
  const slash = host.indexOf('/');
  if (slash >= 0) {
    apiHost = host.slice(0, slash);
    pathPrefix = host.slice(slash).replace(/\/+$/, '');
  }
  if (apiHost === DOCKER_HUB_HOST || apiHost === 'index.docker.io') apiHost = DOCKER_HUB_API_HOST;
  // TLS settings for a loopback host mean the user wants TLS there.
  const wantsTls = cfg?.ca !== undefined || cfg?.keypair !== undefined || cfg?.insecure !== undefined;
  const plain = cfg?.http ?? (isLoopbackHost(apiHost) && !wantsTls);
  return {
    host,
    apiHost,
    pathPrefix,
    scheme: plain ? 'http' : 'https',
    insecure: cfg?.insecure ?? false,
    ca: readFiles(cfg?.ca, 'CA', host),
    keypairs: (cfg?.keypair ?? []).map((kp) => ({
      key: readFiles([kp.key], 'key', host)[0],
      cert: readFiles([kp.cert], 'cert', host)[0],
    })),
    mirror,
    idleTimeoutMs: cfg?.idleTimeout === undefined ? undefined : cfg.idleTimeout * 1000,
  };
}

/** The endpoints to try for `host`, mirrors first when pulling. */
export function endpointsFor(host: string, config: RegistryConfig, forPull: boolean): Endpoint[] {
  const cfg = config.hosts[host];
  const out: Endpoint[] = [];
  if (forPull) for (const m of cfg?.mirrors ?? []) out.push(endpoint(m, config.hosts[m.split('/')[0]], true));
  out.push(endpoint(host, cfg, false));
  return out;
}
