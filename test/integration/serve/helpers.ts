/**
 * Harness for the serve suites: a fresh state root holding busybox:latest, a real `kiln serve`
 * (bin/kiln, its own process) on a unix socket in a temp dir, and the real clients run against it
 * with DOCKER_HOST pointing there and a private DOCKER_CONFIG (the host's logins stay out of it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { seedBusybox } from '../../../src/testing/fixtures.ts';

export const KILN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kiln');
/** Debian's docker.io client (20.10); /usr/local/bin/docker may be a newer one. */
export const DOCKER = '/usr/bin/docker';

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

export interface Served {
  dir: string;
  root: string;
  socket: string;
  /** DOCKER_HOST for clients. */
  host: string;
  proc: ChildProcess;
  /** What the server wrote to stderr so far. */
  log(): string;
  /** A client command with DOCKER_HOST and DOCKER_CONFIG set. */
  run(
    cmd: string,
    args: string[],
    opts?: { input?: string | Buffer; env?: Record<string, string>; cwd?: string },
  ): Run;
  /** The docker CLI (classic builder); asserts success and returns stdout. */
  docker(args: string[], opts?: { input?: string | Buffer; cwd?: string }): string;
  /** Run bin/kiln against the same root (the server may hold it open). */
  kiln(args: string[]): Run;
  /** A context directory holding `files`. */
  context(files: Record<string, string>): Promise<string>;
  /** SIGTERM and wait for the exit status. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  close(): Promise<void>;
}

let contexts = 0;

export async function serve(
  name: string,
  extraArgs: string[] = [],
  serverEnv: Record<string, string> = {},
): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), `kiln-serve-${name}-`));
  const root = join(dir, 'root');
  await seedBusybox(root);
  const socket = join(dir, 'kiln.sock');
  const dockerConfig = join(dir, 'docker-config');
  // The clients' config (logins written by a test go here).
  await mkdir(dockerConfig);
  const env = { ...process.env, KILN_ROOT: root, NO_COLOR: '1', TZ: 'UTC', ...serverEnv };
  const proc = spawn(KILN, ['serve', '-H', `unix://${socket}`, ...extraArgs], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (d) => {
    log += d;
  });
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (log.includes('listening on')) {
        proc.stderr!.off('data', check);
        resolve();
      }
    };
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`kiln serve exited ${code}: ${log}`)));
  });
  const host = `unix://${socket}`;
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code, sig) => r(code ?? (sig ? -1 : null))),
  );
  const run: Served['run'] = (cmd, args, opts = {}) => {
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      input: opts.input ?? '',
      cwd: opts.cwd,
      env: {
        ...process.env,
        DOCKER_HOST: host,
        DOCKER_BUILDKIT: '0',
        DOCKER_CONFIG: dockerConfig,
        ...opts.env,
      },
      maxBuffer: 256 << 20,
      timeout: 300_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  return {
    dir,
    root,
    socket,
    host,
    proc,
    log: () => log,
    run,
    docker: (args, opts) => {
      const r = run(DOCKER, args, opts);
      assert.equal(
        r.code,
        0,
        `docker ${args.join(' ')} failed (${r.code}): ${r.err}\n${r.out}\nserver: ${log}`,
      );
      return r.out;
    },
    kiln: (args) => {
      const r = spawnSync(KILN, args, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    context: async (files) => {
      const ctx = join(dir, `ctx-${++contexts}`);
      await mkdir(ctx);
      for (const [path, data] of Object.entries(files)) {
        await mkdir(dirname(join(ctx, path)), { recursive: true });
        await writeFile(join(ctx, path), data);
      }
      return ctx;
    },
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    close: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A tar of `dir` (as the docker CLI sends a context), in memory: test contexts are tiny. */
export function tarOf(dir: string): Buffer {
  const r = spawnSync('tar', ['-C', dir, '-c', '.'], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

export interface RawResponse {
  status: number;
  body: string;
}

/** One request over the unix socket with Node's own client (for what no CLI does: hang up mid-build). */
export function request(
  socket: string,
  method: string,
  path: string,
  body?: Buffer,
  onData?: (text: string, req: import('node:http').ClientRequest) => void,
): Promise<RawResponse> {
  return import('node:http').then(
    (http) =>
      new Promise<RawResponse>((resolve, reject) => {
        const req = http.request({
          socketPath: socket,
          // Without a body, a fresh connection: a kept-alive one the server has closed fails with
          // EPIPE. With one, the default agent: kept alive, the server drains a body it refuses
          // (413) instead of closing on the client mid-write.
          agent: body === undefined ? false : undefined,
          method,
          path,
          headers: { 'Content-Type': 'application/x-tar' },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
            onData?.(text, req);
          });
          res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('close', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.end(body);
      }),
  );
}

/** Containers runc still knows in `root` (kiln keeps its runc state in ROOT/runc). */
export function runcContainers(root: string): string[] {
  const r = spawnSync('runc', ['--root', join(root, 'runc'), 'list', '-q'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

/** Processes whose command line contains `marker`. */
export function processesWith(marker: string): string[] {
  const r = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}
