/**
 * kiln's own image for the in-container suite: its base (image/base.sh's mmdebstrap rootfs, made
 * once per version of the script and kept in the fixtures cache, since it needs Debian's mirrors
 * and ~30 s), the image built by bin/kiln from the repository's Dockerfile and loaded into the
 * local Docker Engine ($DOCKER_HOST, else /var/run/docker.sock: `kiln build --load` and the
 * docker CLI both follow it), and `docker` run with what a default pod gets.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDocker } from '../../fidelity/builders.ts';
import { KILN } from './helpers.ts';

export const REPO = join(import.meta.dirname, '..', '..', '..');
const BASE_SCRIPT = join(REPO, 'image', 'base.sh');
const FIXTURES = '/var/cache/kiln-fixtures';

/** The mmdebstrap rootfs tarball, made when this version of image/base.sh has not made one yet. */
export function kilnBaseTarball(): string {
  const tag = createHash('sha256').update(readFileSync(BASE_SCRIPT)).digest('hex').slice(0, 12);
  const out = join(FIXTURES, `kiln-base-bookworm-${tag}.tar`);
  if (!existsSync(out)) {
    const r = spawnSync('bash', [BASE_SCRIPT, out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(
      r.status,
      0,
      `image/base.sh failed (it needs mmdebstrap and Debian's mirrors):\n${r.stderr}`,
    );
  }
  return out;
}

export interface Ran {
  code: number | null;
  out: string;
  err: string;
  seconds: number;
}

/** bin/kiln on the host as root, in the state root `root`, from the repository. */
export function hostKiln(root: string, args: string[], env: string[] = []): Ran {
  return timed('env', ['NO_COLOR=1', `KILN_ROOT=${root}`, ...env, KILN, ...args], REPO);
}

/**
 * A Docker Engine that answers. The Engine is shared (the bench restarts it on a data root of its
 * own): whichever one answers will do, waiting up to a minute for one being restarted before
 * starting one (fidelity/builders.ts's ensureDocker, as the docker-load test does).
 */
export function ensureEngine(): void {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0) return;
    spawnSync('sleep', ['2']);
  }
  ensureDocker();
}

export function docker(args: string[]): Ran {
  return timed('docker', args, REPO);
}

function timed(cmd: string, args: string[], cwd: string): Ran {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd });
  return { code: r.status, out: r.stdout, err: r.stderr, seconds: (performance.now() - t0) / 1000 };
}

/**
 * `docker run --rm` of the image as a default pod runs: no --privileged, no --cap-add, Docker's
 * default seccomp (and AppArmor, where the kernel has it) profile; only the host's network, to
 * reach the test registry on 127.0.0.1, and the contexts mounted read-only at /ctx.
 */
export function runInContainer(image: string, contexts: string, script: string): Ran {
  return docker([
    'run',
    '--rm',
    '--network',
    'host',
    '-v',
    `${contexts}:/ctx:ro`,
    '-e',
    'NO_COLOR=1',
    '--entrypoint',
    '/bin/sh',
    image,
    '-ec',
    script,
  ]);
}

/** Remove a Docker image this suite made (by its own name only: the Engine is shared). */
export function removeDockerImage(name: string): void {
  spawnSync('docker', ['rmi', '-f', name], { stdio: 'ignore' });
}

/** Docker's default capability set as CapEff shows it (chown … audit_write, no sys_admin). */
export const DOCKER_DEFAULT_CAPEFF = '00000000a80425fb';
