/**
 * The bench's isolation-mode builders (issue 14): kiln and buildah run as the non-root test user
 * (`kilntest`, with subordinate ids, made by the isolation suite's ensureUser) with
 * `--isolation rootless`, each with its state in a directory of the bench's scratch filesystem
 * that the user owns; and kiln as root with `--isolation chroot`, beside buildah's chroot
 * isolation as root (bench/run.ts's `buildah`). bench/run.ts times them like every other builder;
 * this module says how each is run, reset and set up, and prints the modes' own table.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KILN } from '../test/fidelity/builders.ts';
import {
  assertRepoReachable,
  ensureUser,
  TEST_USER,
  type TestUser,
} from '../test/integration/isolation/helpers.ts';
import { median, printTable, range } from './measure.ts';

export interface BenchUser extends TestUser {
  /**
   * RUN's network for the rootless builders: `default` (slirp4netns) when the user may open
   * /dev/net/tun; else `none`, since neither kiln nor buildah can give a rootless RUN a network
   * of its own without it (this VM ships /dev/net/tun 0600, and the bench changes nothing outside
   * its own directories).
   */
  network: 'default' | 'none';
}

/**
 * The test user, able to reach bin/kiln, the scratch directory (made 0755; the workloads under it
 * are 0644/0755 as written) and its own state; undefined with the reason when it cannot be had.
 */
export function benchUser(scratch: string): BenchUser | string {
  try {
    const u = ensureUser(TEST_USER, true);
    assertRepoReachable(u);
    chmodSync(scratch, 0o755);
    const tun =
      spawnSync('runuser', ['-u', u.name, '--', 'sh', '-c', 'exec 3<>/dev/net/tun'], {}).status === 0;
    return { ...u, network: tun ? 'default' : 'none' };
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

/** `cmd args` as the user (runuser, as the isolation suite runs kiln: the user's HOME, no capabilities). */
export function asUser(user: TestUser, cmd: string, args: string[]): [string, string[]] {
  return ['runuser', ['-u', user.name, '--', 'env', 'NO_COLOR=1', cmd, ...args]];
}

function mustRun(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${tail}`);
  }
}

/** A fresh kiln state root for the user under `scratch`, with the bench's busybox imported (and unpacked, as the other builders keep it) as the user. */
export function userKilnRoot(user: TestUser, scratch: string, rootfsTar: string, baseName: string): string {
  const root = mkdtempSync(join(scratch, 'kiln-rootless-root-'));
  chownSync(root, user.uid, user.gid);
  mustRun(...asUser(user, KILN, ['--root', root, 'image', 'import', '--unpack', rootfsTar, baseName]));
  return root;
}

/** The args kiln-rootless builds with. */
export function kilnRootlessArgs(user: BenchUser, root: string, ctx: string, tag: string): string[] {
  return ['--root', root, 'build', '--isolation', 'rootless', '--network', user.network, '-t', tag, ctx];
}

export interface UserBuildah {
  /** buildah's global flags for this store. */
  flags: string[];
  driver: string;
  version: string;
}

/**
 * buildah's storage for the user in `dir` (owned by the user): overlay when rootless buildah
 * can use it here (kernel overlay in a user namespace, 5.13+), else vfs.
 */
export function userBuildah(user: TestUser, dir: string): UserBuildah | string {
  if (!existsSync('/usr/bin/buildah'))
    return 'buildah is not installed (the root buildah builder installs it)';
  mkdirSync(dir, { recursive: true });
  chownSync(dir, user.uid, user.gid);
  const version = spawnSync('buildah', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const why: string[] = [];
  for (const driver of ['overlay', 'vfs']) {
    const flags = [
      '--storage-driver',
      driver,
      '--root',
      join(dir, driver),
      '--runroot',
      join(dir, `${driver}-run`),
    ];
    const r = spawnSync(...asUser(user, 'buildah', [...flags, 'images']), { encoding: 'utf8' });
    if (r.status === 0) return { flags, driver, version };
    why.push(`${driver}: ${`${r.stderr}`.trim().split('\n').at(-1)}`);
  }
  return `rootless buildah has no working storage driver (${why.join('; ')})`;
}

/** Forget every image and container of the user's buildah store, then pull the base again (as the user). */
export function userBuildahReset(user: TestUser, b: UserBuildah, archive: string): void {
  spawnSync(...asUser(user, 'buildah', [...b.flags, 'rm', '--all']), { stdio: 'ignore' });
  spawnSync(...asUser(user, 'buildah', [...b.flags, 'rmi', '--all', '--force']), { stdio: 'ignore' });
  mustRun(...asUser(user, 'buildah', [...b.flags, 'pull', '-q', `docker-archive:${archive}`]));
}

export function buildahRootlessArgs(user: BenchUser, b: UserBuildah, ctx: string, tag: string): string[] {
  return [
    ...b.flags,
    'bud',
    '--isolation',
    'rootless',
    '--network',
    user.network === 'none' ? 'none' : 'private',
    '--layers',
    '-t',
    tag,
    ctx,
  ];
}

/** A fresh kiln root for chroot mode (as root: it is the mode for root without CAP_SYS_ADMIN). */
export function freshRoot(scratch: string, prefix: string, old: string): string {
  if (old) rmSync(old, { recursive: true, force: true });
  return mkdtempSync(join(scratch, prefix));
}

/** Issue 14's target: kiln rootless within 1.3x of kiln in oci mode (and ahead of rootless buildah). */
export const ROOTLESS_TARGET = 1.3;

interface Measured {
  builder: string;
  workload: string;
  phase: string;
  seconds?: number;
  runs?: number[];
}

/**
 * The modes' table: each builder's median and min–max, and the ratios issue 14 asks for
 * (rootless/oci for kiln with the 1.3x target, rootless against rootless buildah, chroot against
 * buildah's chroot); returned as rows for results/latest.json too.
 */
export function isolationTable(
  results: Measured[],
  workloads: string[],
  phases: string[],
): Record<string, unknown>[] {
  const get = (b: string, w: string, p: string) =>
    results.find((m) => m.builder === b && m.workload === w && m.phase === p && m.seconds !== undefined);
  const cell = (m: Measured | undefined) => (m?.runs ? `${m.seconds?.toFixed(2)} (${range(m.runs)})` : 'n/a');
  const ratio = (a?: Measured, b?: Measured) =>
    a?.runs && b?.runs ? median(a.runs) / median(b.runs) : undefined;
  const fmt = (r: number | undefined) => (r === undefined ? 'n/a' : `${r.toFixed(2)}x`);
  const rows = [
    [
      'workload',
      'phase',
      'kiln oci',
      'kiln rootless',
      'kiln chroot',
      'buildah rootless',
      'buildah chroot',
      'rootless/oci',
      `<=${ROOTLESS_TARGET}x`,
      'rootless/buildah-rl',
      'chroot/buildah-chroot',
    ],
  ];
  const out: Record<string, unknown>[] = [];
  for (const w of workloads) {
    for (const p of phases) {
      const [oci, rl, ch, brl, bch] = [
        'kiln',
        'kiln-rootless',
        'kiln-chroot',
        'buildah-rootless',
        'buildah',
      ].map((b) => get(b, w, p));
      if (![rl, ch, brl].some(Boolean)) continue;
      const rOci = ratio(rl, oci);
      const rBrl = ratio(rl, brl);
      const rBch = ratio(ch, bch);
      const met = rOci === undefined ? 'n/a' : rOci <= ROOTLESS_TARGET ? 'yes' : 'NO';
      rows.push([
        w,
        p,
        cell(oci),
        cell(rl),
        cell(ch),
        cell(brl),
        cell(bch),
        fmt(rOci),
        met,
        fmt(rBrl),
        fmt(rBch),
      ]);
      out.push({
        workload: w,
        phase: p,
        rootlessOverOci: rOci,
        rootlessTarget: ROOTLESS_TARGET,
        rootlessMet: met,
        rootlessOverBuildahRootless: rBrl,
        chrootOverBuildahChroot: rBch,
      });
    }
  }
  if (out.length) {
    console.log('\nisolation modes (issue 14): median s (min–max)');
    printTable(rows);
  }
  return out;
}
