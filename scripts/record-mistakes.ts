/**
 * Record BuildKit's messages for the build mistakes in test/parity/mistakes.ts into
 * test/parity/testdata/buildkit-mistakes.json, which test/parity/mistakes.test.ts compares kiln with.
 * Needs Debian's docker.io: it uses the dockerd at DOCKER_HOST when one answers, else starts its own
 * (data root, exec root and socket in a temp dir, no iptables, no bridge) and stops it afterwards.
 *
 *   node scripts/record-mistakes.ts [--case NAME]…
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seedBusybox } from '../src/testing/fixtures.ts';
import { freePort, startRegistry } from '../src/testing/registry.ts';
import { BASE_REPOSITORY, fill, MISTAKES, unfill } from '../test/parity/mistakes.ts';

const REPO = resolve(import.meta.dirname, '..');
const KILN = join(REPO, 'bin/kiln');
/** Debian's client: it still builds with BuildKit itself (DOCKER_BUILDKIT=1), no buildx needed. */
const DOCKER = '/usr/bin/docker';
const DOCKERD = '/usr/sbin/dockerd';
export const FIXTURE = join(REPO, 'test/parity/testdata/buildkit-mistakes.json');

const { values } = parseArgs({ options: { case: { type: 'string', multiple: true, default: [] } } });

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  // docker 20.10's client once hung for good on a build the daemon had refused: bound every call.
  const opts = {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
    timeout: 180_000,
  } as const;
  return spawnSync(cmd, args, opts);
}

function must(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = run(cmd, args, env);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** A dockerd of our own when none answers at DOCKER_HOST; returns how to stop it. */
async function ensureDockerd(scratch: string): Promise<{ env: NodeJS.ProcessEnv; stop(): Promise<void> }> {
  if (run(DOCKER, ['info']).status === 0) return { env: {}, stop: async () => {} };
  const dir = join(scratch, 'dockerd');
  mkdirSync(dir);
  const sock = `unix://${join(dir, 'docker.sock')}`;
  const flags = ['--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec')];
  flags.push('--pidfile', join(dir, 'docker.pid'), '-H', sock, '--iptables=false', '--bridge=none');
  const child: ChildProcess = spawn(DOCKERD, flags, { stdio: 'ignore' });
  const env = { DOCKER_HOST: sock };
  const deadline = Date.now() + 60_000;
  while (run(DOCKER, ['info'], env).status !== 0) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('dockerd did not come up');
    await new Promise((r) => setTimeout(r, 500));
  }
  const exited = new Promise((r) => child.once('exit', r));
  // Its data root is in scratch: wait until it has unmounted everything before that goes.
  return { env, stop: async () => void (child.kill('SIGTERM') && (await exited)) };
}

/** Push kiln's busybox fixture (amd64 + arm64) to the registry as parity/busybox:latest. */
async function pushBase(scratch: string, registry: string): Promise<void> {
  const root = join(scratch, 'kiln-root');
  await seedBusybox(root);
  must(KILN, ['--root', root, 'push', 'busybox:latest', `${registry}/${BASE_REPOSITORY}:latest`]);
}

/** Progress timings differ on every run; nothing else in the recordings does. */
function stableTimings(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.startsWith('#') ? l.replace(/\b\d+\.\d+s\b/g, '0.0s') : l))
    .join('\n');
}

const scratch = mkdtempSync(join(tmpdir(), 'kiln-record-mistakes-'));
const docker = await ensureDockerd(scratch);
const registry = await startRegistry();
try {
  await pushBase(scratch, registry.host);
  const closedPort = await freePort();
  const client = must(DOCKER, ['version', '--format', '{{.Client.Version}}'], docker.env).trim();
  const server = must(DOCKER, ['version', '--format', '{{.Server.Version}}'], docker.env).trim();
  let previous: { cases?: Record<string, unknown> } = {};
  try {
    previous = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  } catch {}
  const cases: Record<string, unknown> = values.case.length ? { ...previous.cases } : {};
  for (const m of MISTAKES) {
    if (values.case.length && !values.case.includes(m.name)) continue;
    const ctx = join(scratch, `ctx-${m.name}`);
    for (const [path, text] of Object.entries(m.files)) {
      mkdirSync(dirname(join(ctx, path)), { recursive: true });
      writeFileSync(join(ctx, path), fill(text, registry.host, closedPort));
    }
    for (const d of m.dirs ?? []) mkdirSync(join(ctx, d), { recursive: true });
    // --network=none: our dockerd has no bridge, and no case needs a network in RUN.
    const flags = ['--progress=plain', '--no-cache', '--network=none', ...(m.args ?? [])];
    const r = run(DOCKER, ['build', ...flags, ctx], {
      ...docker.env,
      DOCKER_BUILDKIT: '1',
    });
    const stderr = stableTimings(unfill(r.stderr, registry.host, closedPort, ctx));
    cases[m.name] = { exitCode: r.status, stderr };
    process.stdout.write(`== ${m.name} (exit ${r.status})\n${stderr.split('\n').slice(-12).join('\n')}\n`);
  }
  const out = { recordedWith: { dockerClient: client, dockerServer: server }, cases };
  mkdirSync(dirname(FIXTURE), { recursive: true });
  writeFileSync(`${FIXTURE}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
  must('mv', [`${FIXTURE}.tmp`, FIXTURE]);
  process.stdout.write(`wrote ${FIXTURE}\n`);
} finally {
  await registry.stop();
  await docker.stop();
  rmSync(scratch, { recursive: true, force: true });
}
