/**
 * A real distribution registry for tests: Debian's `docker-registry` on 127.0.0.1 with a free port,
 * plain or with htpasswd, TLS or token auth. Every registry dies with the test process, even on
 * SIGKILL: it runs under a tiny shell wrapper that kills it when our stdin pipe closes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** Require HTTP Basic auth with this one user (bcrypt htpasswd, as docker-registry wants). */
  htpasswd?: { user: string; password: string };
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Require Bearer tokens from `realm`, signed by a key whose certificate is in `rootCertBundle`. */
  tokenAuth?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Extra lines for the registry's YAML config (e.g. a `proxy:` section), appended verbatim. */
  extraConfig?: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, what goes in references. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://…`. */
  url: string;
  /** Storage root, for tests that inspect what the registry holds. */
  storageDir: string;
  /** The registry process itself (not its wrapper), for tests that stop and continue it. */
  pid(): number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Closing the wrapper's stdin makes it kill the registry; process exit closes it anyway, this
  // only makes it prompt.
  process.on('exit', () => {
    for (const child of running) child.stdin?.destroy();
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function requireTool(path: string, pkg: string): void {
  try {
    execFileSync(path, ['--version'], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('sh', ['-c', `command -v ${path}`], { stdio: 'ignore' });
    } catch (cause) {
      throw new KilnError('TEST_TOOL_MISSING', `${path} is not installed`, {
        hint: `apt-get install -y ${pkg} (or run scripts/setup.sh)`,
        cause,
      });
    }
  }
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

function configYaml(dir: string, port: number, opts: RegistryOptions): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${yamlString(join(dir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: kiln-test-secret',
  ];
  if (opts.tls) {
    lines.push(
      '  tls:',
      `    certificate: ${yamlString(opts.tls.certFile)}`,
      `    key: ${yamlString(opts.tls.keyFile)}`,
    );
  }
  if (opts.htpasswd && opts.tokenAuth)
    throw new KilnError('INVALID_ARGUMENT', 'startRegistry: choose htpasswd or tokenAuth, not both');
  if (opts.htpasswd) {
    const line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], {
      encoding: 'utf8',
    }).trim();
    const file = join(dir, 'htpasswd');
    writeFileSync(file, `${line}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${yamlString(file)}`);
  }
  if (opts.tokenAuth) {
    const t = opts.tokenAuth;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${yamlString(t.realm)}`,
      `    service: ${yamlString(t.service)}`,
      `    issuer: ${yamlString(t.issuer)}`,
      `    rootcertbundle: ${yamlString(t.rootCertBundle)}`,
    );
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  return `${lines.join('\n')}\n`;
}

/** One GET /v2/: resolves with the status (401 counts: the server is up), rejects on no answer. */
function probe(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(`${url}/v2/`, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * Start a registry and wait until /v2/ answers. Fails loudly (TEST_TOOL_MISSING) when
 * docker-registry or, for htpasswd, apache2-utils is not installed.
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  requireTool(REGISTRY_BINARY, 'docker-registry');
  if (opts.htpasswd) requireTool('htpasswd', 'apache2-utils');
  installExitHook();
  let lastError = '';
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-registry-'));
    const port = await freePort();
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, configYaml(dir, port, opts));
    const logFile = join(dir, 'registry.log');
    // The wrapper starts the registry, then waits for stdin to close (our exit, or stop()), and
    // removes the registry's directory once it is gone: a process that never calls stop() (a
    // bench, a killed test) leaves nothing in /tmp either.
    const pidFile = join(dir, 'registry.pid');
    const script = `"${REGISTRY_BINARY}" serve "$1" >"$2" 2>&1 & c=$!; echo $c >"$3"; trap 'kill $c 2>/dev/null' EXIT; cat >/dev/null; kill $c 2>/dev/null; wait $c; rm -rf "$4"`;
    const child = spawn('/bin/sh', ['-c', script, 'kiln-registry', cfg, logFile, pidFile, dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    running.add(child);
    // A registry must not keep a test process alive; it dies with us through the stdin pipe.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let dead = false;
    void exited.then(() => {
      dead = true;
      running.delete(child);
    });
    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const stop = async (): Promise<void> => {
      if (!dead) {
        child.stdin?.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 15_000;
    while (!dead && Date.now() < deadline) {
      try {
        await probe(url);
        // The port could belong to someone else: make sure our registry is still the one running.
        await new Promise((r) => setTimeout(r, 20));
        if (!dead && readRegistryLog(logFile).includes('address already in use') === false) {
          const pid = () => Number(readFileSync(pidFile, 'utf8').trim());
          return { host: `127.0.0.1:${port}`, url, storageDir: join(dir, 'storage'), pid, stop };
        }
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    lastError = readRegistryLog(logFile);
    await stop();
    if (!/address already in use/.test(lastError)) break;
  }
  throw new KilnError(
    'TEST_REGISTRY_FAILED',
    `docker-registry did not start: ${lastError.trim().split('\n').slice(-5).join(' | ')}`,
    {
      hint: 'check the generated config and that /usr/bin/docker-registry runs',
    },
  );
}

function readRegistryLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface TestCertificates {
  dir: string;
  /** The self-signed CA certificate (PEM) a client must trust. */
  caFile: string;
  caKeyFile: string;
  /** A server certificate for 127.0.0.1 / localhost / ::1, signed by the CA. */
  certFile: string;
  keyFile: string;
}

/** A throwaway self-signed RSA certificate and its key (PEM files), made with openssl. */
export function selfSignedCertificate(commonName: string, keyFile: string, certFile: string): void {
  requireTool('openssl', 'openssl');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/** Make a throwaway CA and a server certificate for the loopback names with openssl. */
export function makeTestCertificates(
  dir: string = mkdtempSync(join(tmpdir(), 'kiln-certs-')),
): TestCertificates {
  const p = (n: string) => join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  selfSignedCertificate('kiln test CA', p('ca.key'), p('ca.pem'));
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  ]);
  writeFileSync(
    p('ext.cnf'),
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n',
  );
  run([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.pem'),
  ]);
  return {
    dir,
    caFile: p('ca.pem'),
    caKeyFile: p('ca.key'),
    certFile: p('server.pem'),
    keyFile: p('server.key'),
  };
}

let shared: Promise<TestRegistry> | undefined;

/**
 * The run's plain registry: the one global-setup.ts announced in KILN_TEST_REGISTRY, or else one
 * started for this process (stopped when the process exits). Tests should use distinct
 * repository names, as other test files share the registry.
 */
export function sharedRegistry(): Promise<TestRegistry> {
  const host = process.env.KILN_TEST_REGISTRY;
  if (host) {
    const pid = (): number => {
      throw new KilnError('TEST_REGISTRY_SHARED', 'the shared registry serves every test file', {
        hint: 'start a registry of your own (startRegistry) to stop and continue it',
      });
    };
    return Promise.resolve({ host, url: `http://${host}`, storageDir: '', pid, stop: async () => {} });
  }
  shared ??= startRegistry();
  return shared;
}
