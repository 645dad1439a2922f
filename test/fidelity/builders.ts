/**
 * The builders the fidelity corpus and the benchmarks drive: BuildKit inside Debian's Docker
 * Engine (installed and started here when missing: nothing done by hand survives to CI), buildah,
 * and kiln through its CLI. Each gets the same busybox base image. kiln itself never needs docker;
 * only these reference runs do.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BASE_IMAGE_NAME } from './base.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** Debian's docker.io client; /usr/local/bin/docker may be a newer client without buildx. */
export const DOCKER = '/usr/bin/docker';
const DOCKERD = '/usr/sbin/dockerd';
export const KILN = join(REPO_ROOT, 'bin/kiln');
export const DOCKERD_LOG = '/var/log/kiln-dockerd.log';

export interface BuildOptions {
  dockerfile?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
  }
  return r.stdout;
}

function ok(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;
export function aptInstall(pkgs: string[]): void {
  if (process.getuid?.() !== 0) throw new Error(`need root to install ${pkgs.join(' ')}`);
  if (!aptUpdated) run('apt-get', ['update', '-qq']);
  aptUpdated = true;
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    DEBIAN_FRONTEND: 'noninteractive',
  });
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const DEFAULT_DATA_ROOT = '/var/lib/docker';

/** Stop the running dockerd (started by ensureDocker, so its pid file is the default one). */
function stopDocker(): void {
  const pid = spawnSync('cat', ['/var/run/docker.pid'], { encoding: 'utf8' }).stdout.trim();
  if (!/^\d+$/.test(pid)) return;
  spawnSync('kill', [pid]);
  // Gone means the process, not just the API: a new dockerd refuses to start over its pid file.
  const deadline = Date.now() + 60_000;
  while (ok('kill', ['-0', pid]) && Date.now() < deadline) sleep(300);
}

/**
 * Install docker.io when missing and start dockerd (no systemd here) when it does not answer,
 * keeping its state in `dataRoot` (the bench puts it on its own filesystem): a dockerd running
 * with another data root is restarted.
 */
export function ensureDocker(dataRoot = DEFAULT_DATA_ROOT): { serverVersion: string } {
  if (!existsSync(DOCKER) || !existsSync(DOCKERD)) aptInstall(['docker.io']);
  if (ok(DOCKER, ['info'])) {
    const current = spawnSync(DOCKER, ['info', '--format', '{{.DockerRootDir}}'], { encoding: 'utf8' });
    if (current.stdout.trim() !== dataRoot) stopDocker();
  }
  if (!ok(DOCKER, ['info'])) {
    const log = openSync(DOCKERD_LOG, 'a');
    const child = spawn(DOCKERD, ['--data-root', dataRoot], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.unref();
    const deadline = Date.now() + 60_000;
    while (!ok(DOCKER, ['info'])) {
      if (Date.now() > deadline) throw new Error(`dockerd did not come up within 60 s; see ${DOCKERD_LOG}`);
      sleep(500);
    }
  }
  return { serverVersion: run(DOCKER, ['version', '--format', '{{.Server.Version}}']).trim() };
}

/** Put dockerd back on its usual data root (after the bench moved it). */
export function restoreDocker(): void {
  if (ok(DOCKER, ['info'])) ensureDocker(DEFAULT_DATA_ROOT);
}

/** `docker import` the busybox rootfs as busybox:latest unless that image already has this layer. */
export function ensureDockerBase(rootfsTar: string, diffId: string): void {
  const have = spawnSync(
    DOCKER,
    ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', BASE_IMAGE_NAME],
    {
      encoding: 'utf8',
    },
  );
  if (have.status === 0 && have.stdout.trim() === JSON.stringify([diffId])) return;
  run(DOCKER, ['import', rootfsTar, BASE_IMAGE_NAME]);
}

function buildFlags(o: BuildOptions): string[] {
  const args: string[] = [];
  if (o.dockerfile) args.push('-f', o.dockerfile);
  for (const [k, v] of Object.entries(o.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  if (o.target) args.push('--target', o.target);
  if (o.noCache) args.push('--no-cache');
  return args;
}

/** Build with BuildKit (`DOCKER_BUILDKIT=1 docker build`) and tag; returns BuildKit's output. */
export function dockerBuild(context: string, tag: string, o: BuildOptions = {}): string {
  return run(DOCKER, ['build', '--progress=plain', ...buildFlags(o), '-t', tag, context], {
    DOCKER_BUILDKIT: '1',
  });
}

export function dockerSave(tag: string, dest: string): void {
  run(DOCKER, ['save', '-o', dest, tag]);
}

/** Build with kiln and export a docker-load tarball to `dest`. */
export function kilnBuild(root: string, context: string, dest: string, o: BuildOptions = {}): string {
  return run(KILN, [
    '--root',
    root,
    'build',
    ...buildFlags(o),
    '--output',
    `type=docker,dest=${dest}`,
    context,
  ]);
}

/** True when this checkout's kiln has a `build` command yet. */
export function kilnCanBuild(): boolean {
  const r = spawnSync(KILN, ['build', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /build/i.test(r.stdout);
}

/**
 * Import the busybox rootfs as the base image into `root`; `unpack` also unpacks its layer now,
 * into the snapshot store of `isolation` (default: what a build here would use) — the benches:
 * dockerd's import and buildah's pull store a base unpacked, so a cold build of each starts from
 * one — where a build would otherwise unpack it at its first use.
 */
export function kilnImportBase(
  root: string,
  rootfsTar: string,
  opts: { unpack?: boolean; isolation?: string } = {},
): void {
  run(
    KILN,
    ['--root', root, 'image', 'import', ...(opts.unpack ? ['--unpack'] : []), rootfsTar, BASE_IMAGE_NAME],
    opts.isolation ? { KILN_ISOLATION: opts.isolation } : undefined,
  );
}

/** Where and how buildah keeps its images: a storage root of its own, so nothing else is touched. */
export interface BuildahStore {
  driver: string;
  root: string;
  runroot: string;
}

function buildahArgs(s: BuildahStore): string[] {
  return ['--storage-driver', s.driver, '--root', s.root, '--runroot', s.runroot];
}

/** Install buildah when missing and pick a storage driver that works here (overlay, else vfs). */
export function ensureBuildah(root: string): { store: BuildahStore; version: string } | undefined {
  if (!existsSync('/usr/bin/buildah')) {
    try {
      aptInstall(['buildah']);
    } catch {
      return undefined;
    }
  }
  const version = run('buildah', ['--version']).trim();
  for (const driver of ['overlay', 'vfs']) {
    const store = { driver, root: join(root, driver), runroot: join(root, `${driver}-run`) };
    if (ok('buildah', [...buildahArgs(store), 'images'])) return { store, version };
  }
  return undefined;
}

/**
 * Write the base rootfs as a `docker save`-format archive tagged busybox:latest (for
 * `buildah pull docker-archive:`), with the diffID as its layer digest.
 */
export function baseDockerArchive(rootfsTar: string, diffId: string, dest: string): string {
  if (existsSync(dest)) return dest;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-base-archive-'));
  try {
    const hex = diffId.slice('sha256:'.length);
    mkdirSync(join(dir, hex));
    copyFileSync(rootfsTar, join(dir, hex, 'layer.tar'));
    const config = {
      architecture: 'amd64',
      os: 'linux',
      created: '2020-01-01T00:00:00Z',
      config: {},
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '2020-01-01T00:00:00Z', created_by: 'busybox rootfs from busybox-static' }],
    };
    const configText = JSON.stringify(config);
    const configHex = execFileSync('sha256sum', { input: configText, encoding: 'utf8' }).split(' ')[0];
    writeFileSync(join(dir, `${configHex}.json`), configText);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify([
        {
          Config: `${configHex}.json`,
          RepoTags: ['docker.io/library/busybox:latest'],
          Layers: [`${hex}/layer.tar`],
        },
      ]),
    );
    run('tar', ['-cf', `${dest}.tmp`, '-C', dir, '.']);
    run('mv', [`${dest}.tmp`, dest]);
    return dest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function buildahBuild(
  store: BuildahStore,
  context: string,
  tag: string,
  o: BuildOptions = {},
): string {
  const args = [
    ...buildahArgs(store),
    'bud',
    '--isolation',
    'chroot',
    '--layers',
    ...buildFlags(o),
    '-t',
    tag,
    context,
  ];
  return run('buildah', args);
}

export function buildahImportBase(store: BuildahStore, archive: string): void {
  run('buildah', [...buildahArgs(store), 'pull', '-q', `docker-archive:${archive}`]);
}

/** Remove every container and image from this (bench-only) buildah store. */
export function buildahReset(store: BuildahStore): void {
  spawnSync('buildah', [...buildahArgs(store), 'rm', '--all'], { stdio: 'ignore' });
  spawnSync('buildah', [...buildahArgs(store), 'rmi', '--all', '--force'], { stdio: 'ignore' });
}

/** Export a buildah image as a docker-save archive. */
export function buildahSave(store: BuildahStore, tag: string, dest: string): void {
  run('buildah', [...buildahArgs(store), 'push', '-q', tag, `docker-archive:${dest}`]);
}

/** Empty BuildKit's cache and drop a tag, for a cold Docker build. */
export function dockerReset(tag: string): void {
  spawnSync(DOCKER, ['rmi', '-f', tag], { stdio: 'ignore' });
  run(DOCKER, ['builder', 'prune', '-af']);
}

export { run as runTool };
