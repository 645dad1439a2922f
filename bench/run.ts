/**
 * `npm run bench`: wall times of kiln against BuildKit (Docker Engine) and buildah on the
 * workloads in bench/workloads.ts — cold (no cache), warm (nothing changed), incremental (one
 * small file changed, W1) and CI (a fresh machine importing the cache an earlier build pushed to
 * a registry, pushing the image: kiln's registry cache against BuildKit's inline cache) — plus
 * kiln's peak RSS and the layer bytes kiln's CI build fetched, with ratios and the targets.
 * Results go to stdout as a table and to bench/results/latest.json.
 *
 *   node bench/run.ts [--builders kiln,buildkit,buildah,kiln-serve,docker-classic] [--workloads W1,W2] [--repeat N] [--keep]
 *
 * Issue 14's isolation modes (bench/isolation.ts), not in the default list: `kiln-rootless` and
 * `buildah-rootless` (the non-root test user, `--isolation rootless`), `kiln-chroot` (root,
 * `--isolation chroot`) beside `buildah` (buildah's chroot isolation as root; `buildah-chroot`
 * names it too), with their own table of ratios.
 *
 * `kiln-serve` is `docker build` (the same docker CLI, classic protocol, the context uploaded as a
 * tar) against `kiln serve`; `docker-classic` is that same command against dockerd (its classic
 * builder): serve/classic is issue 16's ratio (target <= 0.7x), same client, same upload.
 *
 * Every builder's cold build starts from the busybox base stored unpacked, as each keeps it:
 * dockerd's `docker import` and buildah's pull unpack it into their layer stores, and kiln's reset
 * imports it with `--unpack` (untimed, as theirs); no build cache.
 *
 * With --repeat N the cold and incremental phases are measured N times (cold resets every time;
 * each builder's incremental builds follow one untimed one of its own), the warm phase max(N, 7)
 * times in rounds across the builders; each phase reports the median.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BASE_IMAGE_NAME, buildBusyboxRootfs } from '../test/fidelity/base.ts';
import {
  aptInstall,
  type BuildahStore,
  baseDockerArchive,
  buildahImportBase,
  buildahReset,
  DOCKER,
  dockerReset,
  ensureBuildah,
  ensureDocker,
  ensureDockerBase,
  KILN,
  kilnCanBuild,
  kilnImportBase,
  restoreDocker,
} from '../test/fidelity/builders.ts';
import { baseFilesystem } from '../test/fidelity/image-archive.ts';
import {
  asUser,
  benchUser,
  buildahRootlessArgs,
  freshRoot,
  isolationTable,
  kilnRootlessArgs,
  userBuildah,
  userBuildahReset,
  userKilnRoot,
} from './isolation.ts';
import { load, median, printTable, writeResults } from './measure.ts';
import { mountScratchFs, unmountScratchFs } from './scratchfs.ts';
import { makeW1, makeW2, type Workload } from './workloads.ts';

type Builder =
  | 'kiln'
  | 'buildkit'
  | 'buildah'
  | 'kiln-serve'
  | 'docker-classic'
  | 'kiln-rootless'
  | 'kiln-chroot'
  | 'buildah-rootless';
type Phase = 'cold' | 'warm' | 'incremental' | 'ci';

interface Measurement {
  builder: Builder;
  workload: Workload['name'];
  phase: Phase;
  /** Median of `runs`. */
  seconds?: number;
  runs?: number[];
  peakRssMiB?: number;
  error?: string;
}

const { values } = parseArgs({
  options: {
    builders: { type: 'string', default: 'kiln,buildkit,buildah,kiln-serve,docker-classic' },
    workloads: { type: 'string', default: 'W1,W2' },
    keep: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
  },
});
const repeat = Math.max(1, Number.parseInt(values.repeat, 10) || 1);
const wanted = new Set(
  values.builders.split(',').map((b) => (b === 'buildah-chroot' ? 'buildah' : b)) as Builder[],
);
const workloadNames = new Set(values.workloads.split(','));

const TIME = '/usr/bin/time';
if (!existsSync(TIME)) aptInstall(['time']);

/** Run a command under GNU time; returns wall seconds and the peak RSS of the process tree's largest process. */
function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { seconds: number; peakRssMiB: number } {
  const rssFile = join(scratch, 'rss.txt');
  const start = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 256 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) {
    const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${tail}`);
  }
  const kib = Number.parseInt(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '0', 10);
  return { seconds, peakRssMiB: kib / 1024 };
}

// Every builder's state and the workloads live on the bench's own journaled ext4 (scratchfs.ts).
const scratchFs = mountScratchFs();
const scratch = mkdtempSync(join(scratchFs ?? tmpdir(), 'kiln-bench-'));
console.log(`generating workloads under ${scratch} ...`);
const rootfsTar = buildBusyboxRootfs(join(scratch, 'busybox-rootfs.tar'));
const base = baseFilesystem(rootfsTar);
const workloads: Workload[] = [];
if (workloadNames.has('W1')) workloads.push(makeW1(scratch));
if (workloadNames.has('W2')) workloads.push(makeW2(scratch));

interface Runner {
  name: Builder;
  version: string;
  /** Forget every cache so that the next build is cold (untimed). */
  reset: (tag: string) => void;
  build: (ctx: string, tag: string) => { seconds: number; peakRssMiB: number };
  /**
   * The CI phase: export the cache of a build of `ctx` to the bench registry (untimed), then on a
   * fresh machine (an empty state) import it and push the image (timed).
   */
  ci?: (ctx: string, tag: string) => { seconds: number; peakRssMiB: number };
}

/** The registry the CI phase pushes to and imports from (the rig's, on 127.0.0.1). */
let registryHost: string | undefined;
async function ciRegistry(): Promise<string | undefined> {
  try {
    const { startRegistry } = await import('../src/testing/registry.ts');
    registryHost = (await startRegistry()).host;
  } catch (err) {
    unavailableCi = (err as Error).message.split('\n')[0];
  }
  return registryHost;
}
let unavailableCi: string | undefined;
/** Layer bytes kiln's CI build brought into its fresh state root, per workload. */
const ciFetched: Record<string, number> = {};

function untimed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  if (r.status !== 0) {
    const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${tail}`);
  }
}

/** Bytes in a state root's content store (`du -sb`). */
function blobBytes(root: string): number {
  const r = spawnSync('du', ['-sb', join(root, 'blobs')], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split('\t')[0]) : 0;
}

const runners: Runner[] = [];
const unavailable: Record<string, string> = {};

// What users run: the bundle setup builds (bin/kiln runs the sources when it is stale).
if (['kiln', 'kiln-rootless', 'kiln-chroot'].some((b) => wanted.has(b as Builder))) {
  const bundled = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'bundle.ts')], {
    encoding: 'utf8',
  });
  if (bundled.status !== 0) throw new Error(`bench: npm run bundle failed:\n${bundled.stderr}`);
}
if (wanted.has('kiln')) {
  if (kilnCanBuild()) {
    let root = '';
    runners.push({
      name: 'kiln',
      version: 'this checkout',
      reset: () => {
        if (root) rmSync(root, { recursive: true, force: true });
        root = mkdtempSync(join(scratch, 'kiln-root-'));
        kilnImportBase(root, rootfsTar, { unpack: true });
      },
      build: (ctx, tag) => timed(KILN, ['--root', root, 'build', '-t', tag, ctx]),
      ci: (ctx, tag) => {
        const reg = registryHost as string;
        const cache = `${reg}/bench/${tag}-cache`;
        untimed(KILN, [
          '--root',
          root,
          'build',
          '--cache-to',
          `type=registry,ref=${cache},mode=max`,
          '-o',
          `type=registry,name=${reg}/bench/${tag}:kiln-prep`,
          ctx,
        ]);
        const fresh = mkdtempSync(join(scratch, 'kiln-ci-root-'));
        try {
          // The same base image (as a CI machine pulls it by digest): an import would make a new
          // config (its created time), and so other cache keys.
          const base = join(scratch, 'kiln-ci-base.tar');
          untimed(KILN, ['--root', root, 'image', 'save', '--format', 'oci', '-o', base, BASE_IMAGE_NAME]);
          untimed(KILN, ['--root', fresh, 'image', 'load', '-i', base]);
          const before = blobBytes(fresh);
          settleDisk([ctx]);
          const t = timed(KILN, [
            '--root',
            fresh,
            'build',
            '--cache-from',
            cache,
            '-o',
            `type=registry,name=${reg}/bench/${tag}:kiln-ci`,
            ctx,
          ]);
          ciFetched[tag] = blobBytes(fresh) - before;
          return t;
        } finally {
          rmSync(fresh, { recursive: true, force: true });
        }
      },
    });
  } else unavailable.kiln = '`kiln build` is not implemented in this checkout yet';
}
let served: ChildProcess | undefined;
const stopServe = () => {
  served?.kill('SIGTERM');
  served = undefined;
};
if (wanted.has('kiln-serve') && kilnCanBuild() && existsSync(DOCKER)) {
  let root = '';
  const socket = join(scratch, 'kiln-serve.sock');
  runners.push({
    name: 'kiln-serve',
    version: 'docker CLI (classic protocol) against kiln serve, this checkout',
    reset: () => {
      stopServe();
      if (root) rmSync(root, { recursive: true, force: true });
      rmSync(socket, { force: true });
      root = mkdtempSync(join(scratch, 'kiln-serve-root-'));
      kilnImportBase(root, rootfsTar, { unpack: true });
      served = spawn(KILN, ['--root', root, 'serve', '-H', `unix://${socket}`], { stdio: 'ignore' });
      for (let i = 0; i < 300 && !existsSync(socket); i++)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      if (!existsSync(socket)) throw new Error('kiln serve did not start');
    },
    build: (ctx, tag) =>
      timed(DOCKER, ['build', '-q', '-t', tag, ctx], {
        DOCKER_HOST: `unix://${socket}`,
        DOCKER_BUILDKIT: '0',
      }),
  });
}
process.on('exit', stopServe);
if (wanted.has('buildkit')) {
  try {
    const { serverVersion } = ensureDocker(scratchFs ? join(scratchFs, 'docker') : undefined);
    ensureDockerBase(rootfsTar, base.diffId);
    runners.push({
      name: 'buildkit',
      version: `Docker Engine ${serverVersion} (built-in BuildKit)`,
      reset: (tag) => dockerReset(tag),
      build: (ctx, tag) =>
        timed(DOCKER, ['build', '--progress=plain', '-t', tag, ctx], { DOCKER_BUILDKIT: '1' }),
      ci: (ctx, tag) => {
        // Docker 20.10's BuildKit exports inline cache only (no registry cache without buildx).
        const image = `${registryHost}/bench/${tag}:bk-inline`;
        const env = { DOCKER_BUILDKIT: '1' };
        untimed(DOCKER, ['build', '--build-arg', 'BUILDKIT_INLINE_CACHE=1', '-t', image, ctx], env);
        untimed(DOCKER, ['push', image]);
        // A fresh machine: nothing of this build in Docker's image store or build cache.
        spawnSync(DOCKER, ['rmi', '-f', image], { stdio: 'ignore' });
        dockerReset(tag);
        settleDisk([ctx]);
        const pushed = `${registryHost}/bench/${tag}:bk-ci`;
        const b = timed(DOCKER, ['build', '--progress=plain', '--cache-from', image, '-t', pushed, ctx], env);
        const p = timed(DOCKER, ['push', pushed]);
        return { seconds: b.seconds + p.seconds, peakRssMiB: Math.max(b.peakRssMiB, p.peakRssMiB) };
      },
    });
  } catch (err) {
    unavailable.buildkit = (err as Error).message.split('\n')[0];
  }
}
if (wanted.has('docker-classic')) {
  try {
    const { serverVersion } = ensureDocker(scratchFs ? join(scratchFs, 'docker') : undefined);
    ensureDockerBase(rootfsTar, base.diffId);
    runners.push({
      name: 'docker-classic',
      version: `docker CLI (classic protocol) against Docker Engine ${serverVersion}'s classic builder`,
      // `builder prune` does not reach the classic builder's cache: it is the image's parent
      // chain, which goes with the image (rmi -f) and the dangling layers (image prune).
      reset: (tag) => {
        dockerReset(tag);
        spawnSync(DOCKER, ['image', 'prune', '-f'], { stdio: 'ignore' });
      },
      // Host networking: RUN then needs no veth on docker0 (which other dockerds on a shared
      // machine have been seen to take away), and dockerd is spared that cost: if anything, in
      // its favour.
      build: (ctx, tag) =>
        timed(DOCKER, ['build', '-q', '--network', 'host', '-t', tag, ctx], { DOCKER_BUILDKIT: '0' }),
    });
  } catch (err) {
    unavailable['docker-classic'] = (err as Error).message.split('\n')[0];
  }
}
if (wanted.has('buildah')) {
  const got = ensureBuildah(join(scratch, 'buildah'));
  if (got) {
    const store: BuildahStore = got.store;
    const archive = baseDockerArchive(rootfsTar, base.diffId, join(scratch, 'busybox-docker-archive.tar'));
    const args = ['--storage-driver', store.driver, '--root', store.root, '--runroot', store.runroot];
    runners.push({
      name: 'buildah',
      version: `${got.version}, ${store.driver} storage, chroot isolation, as root`,
      reset: () => {
        buildahReset(store);
        buildahImportBase(store, archive);
      },
      build: (ctx, tag) =>
        timed('buildah', [...args, 'bud', '--isolation', 'chroot', '--layers', '-t', tag, ctx]),
    });
  } else unavailable.buildah = 'buildah not installable or no working storage driver';
}
// Issue 14's isolation modes: the same phases and settleDisk, the non-root ones run as the test user.
if (wanted.has('kiln-chroot') && kilnCanBuild()) {
  let root = '';
  runners.push({
    name: 'kiln-chroot',
    version: 'this checkout, --isolation chroot, as root',
    reset: () => {
      root = freshRoot(scratch, 'kiln-chroot-root-', root);
      kilnImportBase(root, rootfsTar, { unpack: true, isolation: 'chroot' });
    },
    build: (ctx, tag) => timed(KILN, ['--root', root, 'build', '--isolation', 'chroot', '-t', tag, ctx]),
  });
}
const user = wanted.has('kiln-rootless') || wanted.has('buildah-rootless') ? benchUser(scratch) : undefined;
if (typeof user === 'string') {
  if (wanted.has('kiln-rootless')) unavailable['kiln-rootless'] = user;
  if (wanted.has('buildah-rootless')) unavailable['buildah-rootless'] = user;
} else if (user) {
  const net = user.network === 'none' ? `, RUN --network none (${user.name} cannot open /dev/net/tun)` : '';
  if (wanted.has('kiln-rootless') && kilnCanBuild()) {
    let root = '';
    runners.push({
      name: 'kiln-rootless',
      version: `this checkout, --isolation rootless, as ${user.name} (uid ${user.uid})${net}`,
      reset: () => {
        if (root) rmSync(root, { recursive: true, force: true });
        root = userKilnRoot(user, scratch, rootfsTar, BASE_IMAGE_NAME);
      },
      build: (ctx, tag) => timed(...asUser(user, KILN, kilnRootlessArgs(user, root, ctx, tag))),
    });
  }
  const b = wanted.has('buildah-rootless') ? userBuildah(user, join(scratch, 'buildah-rootless')) : undefined;
  if (typeof b === 'string') unavailable['buildah-rootless'] = b;
  else if (b) {
    const archive = baseDockerArchive(rootfsTar, base.diffId, join(scratch, 'busybox-docker-archive.tar'));
    runners.push({
      name: 'buildah-rootless',
      version: `${b.version}, ${b.driver} storage, --isolation rootless, as ${user.name}${net}`,
      reset: () => userBuildahReset(user, b, archive),
      build: (ctx, tag) => timed(...asUser(user, 'buildah', buildahRootlessArgs(user, b, ctx, tag))),
    });
  }
}

const results: Measurement[] = [];
/**
 * Let the disk settle after a reset: removing a previous build's tens of thousands of files
 * leaves the kernel flushing for seconds, which would slow whichever build is measured next. So
 * each cold build starts after a sync, with the clean caches dropped (which also helps when the
 * bench has to run on a journal-less root filesystem, see scratchfs.ts) and the context and the
 * builders' own files read back in, so that no builder starts from a cold page cache. Every
 * builder gets the same treatment.
 */
function settleDisk(contexts: string[]): void {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // Not root, or no procfs: fall back to a pause; the scan above may then slow the next build.
  }
  for (const dir of contexts) spawnSync('sh', ['-c', `find "${dir}" -type f -exec cat {} + >/dev/null`]);
  spawnSync(KILN, ['--version'], { stdio: 'ignore' });
  if (existsSync(DOCKER)) spawnSync(DOCKER, ['version'], { stdio: 'ignore' });
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
}

/**
 * Warm builds take a fraction of a second and this machine's speed drifts by tens of percent over
 * minutes, so they are measured more often than the other phases, in rounds that take each
 * builder in turn: drift then falls on every builder alike.
 */
const warmRuns = Math.max(repeat, 7);

let touches = 0;
function buildOnce(r: Runner, w: Workload, phase: Phase): { seconds: number; peakRssMiB: number } {
  const tag = `kiln-bench-${w.name.toLowerCase()}`;
  if (phase === 'cold') {
    r.reset(tag);
    settleDisk([w.context, rootfsTar]);
  }
  if (phase === 'incremental') w.touch?.(touches++);
  // A warm or incremental build starts with the disk quiet too (no cache dropped): the writeback
  // of the builds before it (the other builder's cold ones, ~1 GB of dockerd's) is not its own.
  if (phase === 'warm' || phase === 'incremental') spawnSync('sync');
  if (phase === 'ci') return (r.ci as NonNullable<Runner['ci']>)(w.context, tag);
  return r.build(w.context, tag);
}

/** Measure `phase` of `w` on each runner: `runs` builds, in rounds (every runner once per round). */
function measure(rs: Runner[], w: Workload, phase: Phase, runs: number, rounds: boolean): void {
  const ms = new Map(
    rs.map((r) => [r, { builder: r.name, workload: w.name, phase, runs: [] } as Measurement]),
  );
  const rss = new Map(rs.map((r) => [r, 0]));
  const order = rounds
    ? Array.from({ length: runs }, () => rs).flat()
    : rs.flatMap((r) => Array.from({ length: runs }, () => r));
  for (const r of order) {
    const m = ms.get(r)!;
    if (m.error) continue;
    try {
      const t = buildOnce(r, w, phase);
      m.runs!.push(Number(t.seconds.toFixed(3)));
      rss.set(r, Math.max(rss.get(r)!, t.peakRssMiB));
    } catch (err) {
      m.error = (err as Error).message;
    }
  }
  for (const [r, m] of ms) {
    if (!m.error) {
      m.seconds = Number(median(m.runs!).toFixed(3));
      if (r.name === 'kiln') m.peakRssMiB = Number(rss.get(r)!.toFixed(1));
    } else delete m.runs;
    results.push(m);
    // A failure prints the command and the builder's last words (the reason), not just the command.
    const why = (e: string) => {
      const lines = e.split('\n').filter((l) => l.trim());
      return lines.length > 1 ? `${lines[0]} … ${lines.slice(-2).join(' | ')}` : e;
    };
    console.log(
      `  ${w.name} ${r.name.padEnd(16)} ${phase.padEnd(11)} ${m.error ? `error: ${why(m.error)}` : `${m.seconds} s`}`,
    );
  }
}

for (const w of workloads) {
  // Each builder's state is its own, so a builder is warm after its cold build whatever the
  // others do in between; incremental builds change the shared context, so they go one builder at a time.
  measure(runners, w, 'cold', repeat, false);
  measure(runners, w, 'warm', warmRuns, true);
  // One untimed incremental build each first: the caches dropped before the other builder's cold
  // builds left this one's layer files on disk only, and an incremental kiln export reads its
  // linked files (2.4 s then against 1.1–1.4 s from the page cache its own last build left, as a
  // developer's next build finds it). Each builder is then measured from its own last build.
  if (w.touch)
    for (const r of runners) {
      try {
        buildOnce(r, w, 'incremental');
      } catch {
        // The measured builds report it.
      }
      measure([r], w, 'incremental', repeat, false);
    }
  const ci = runners.filter((r) => r.ci);
  if (ci.length && (registryHost ?? (await ciRegistry()))) measure(ci, w, 'ci', repeat, false);
}
// BuildKit's image and cache from the last run would otherwise linger in Docker's store; and
// dockerd goes back to its usual data root before the bench's filesystem goes away.
stopServe();
if (runners.some((r) => r.name === 'buildkit' || r.name === 'docker-classic')) {
  for (const w of workloads) dockerReset(`kiln-bench-${w.name.toLowerCase()}`);
  if (scratchFs) restoreDocker();
}

/**
 * Targets: kiln/BuildKit wall-time ratio ceilings (issue 20: W1 cold 0.4, W2 cold 0.7, every warm
 * and incremental 0.3; CI stays at issue 10's 0.5), and kiln's peak RSS on W1 (20,000 files).
 */
const TARGETS: Record<string, number> = {
  'W1 cold': 0.4,
  'W2 cold': 0.7,
  'W1 warm': 0.3,
  'W2 warm': 0.3,
  'W1 incremental': 0.3,
  'W1 ci': 0.5,
  'W2 ci': 0.5,
};
const RSS_TARGET_MIB = 200;

const get = (b: Builder, w: string, p: Phase) =>
  results.find((m) => m.builder === b && m.workload === w && m.phase === p);
const fmt = (v: number | undefined, unit = 's') => (v === undefined ? 'n/a' : `${v.toFixed(2)}${unit}`);
/** A median with its range across the runs, for the table (issue 20: every figure with its range). */
const fmtRuns = (m: Measurement | undefined) => {
  const runs = m?.runs;
  if (m?.seconds === undefined || !runs || runs.length < 2) return fmt(m?.seconds);
  return `${fmt(m.seconds)} (${Math.min(...runs).toFixed(2)}–${Math.max(...runs).toFixed(2)})`;
};
const rows: string[][] = [
  [
    'workload',
    'phase',
    'kiln',
    'BuildKit',
    'buildah',
    'kiln/BK',
    'kiln/buildah',
    'target',
    'met',
    'serve',
    'serve/BK',
    'classic',
    'serve/classic',
    'kiln RSS',
  ],
];
const summary: Record<string, unknown>[] = [];
for (const w of workloads) {
  for (const p of ['cold', 'warm', 'incremental', 'ci'] as Phase[]) {
    if (p === 'incremental' && !w.touch) continue;
    const k = get('kiln', w.name, p)?.seconds;
    const bk = get('buildkit', w.name, p)?.seconds;
    const bh = get('buildah', w.name, p)?.seconds;
    const sv = get('kiln-serve', w.name, p)?.seconds;
    const rSv = sv !== undefined && bk ? sv / bk : undefined;
    const dc = get('docker-classic', w.name, p)?.seconds;
    const rDc = sv !== undefined && dc ? sv / dc : undefined;
    const rBk = k !== undefined && bk ? k / bk : undefined;
    const rBh = k !== undefined && bh ? k / bh : undefined;
    const target = TARGETS[`${w.name} ${p}`];
    const met = rBk === undefined || target === undefined ? 'n/a' : rBk <= target ? 'yes' : 'NO';
    rows.push([
      w.name,
      p,
      fmtRuns(get('kiln', w.name, p)),
      fmtRuns(get('buildkit', w.name, p)),
      fmtRuns(get('buildah', w.name, p)),
      fmt(rBk, 'x'),
      fmt(rBh, 'x'),
      target ? `<=${target}x` : '',
      met,
      fmtRuns(get('kiln-serve', w.name, p)),
      fmt(rSv, 'x'),
      fmtRuns(get('docker-classic', w.name, p)),
      fmt(rDc, 'x'),
      (get('kiln', w.name, p)?.peakRssMiB?.toFixed(0) ?? 'n/a') + ' MiB',
    ]);
    summary.push({
      workload: w.name,
      phase: p,
      kiln: k,
      buildkit: bk,
      buildah: bh,
      kilnOverBuildkit: rBk,
      kilnOverBuildah: rBh,
      target,
      met,
      kilnServe: sv,
      kilnServeOverBuildkit: rSv,
      dockerClassic: dc,
      kilnServeOverDockerClassic: rDc,
    });
  }
}
console.log('');
printTable(rows);
const isolation = isolationTable(results, [...workloads.map((w) => w.name)], ['cold', 'warm', 'incremental']);
console.log(`load average at the end: ${load()}`);
const rss = Math.max(
  ...results
    .filter((m) => m.builder === 'kiln' && m.workload === 'W1' && m.peakRssMiB)
    .map((m) => m.peakRssMiB ?? 0),
  -1,
);
console.log(
  `kiln peak RSS on W1: ${rss < 0 ? 'n/a' : `${rss.toFixed(0)} MiB`} (target <= ${RSS_TARGET_MIB} MiB)`,
);
console.log('serve/classic: issue 16 target <= 0.7x (docker build through kiln serve vs through dockerd)');
console.log(
  `filesystem: ${scratchFs ? 'a fresh journaled ext4 image (bench/scratchfs.ts)' : 'the root filesystem'}`,
);
for (const [tag, bytes] of Object.entries(ciFetched))
  console.log(`kiln CI ${tag}: ${bytes} bytes of blobs fetched into the fresh root (target: no layer bytes)`);
if (unavailableCi) console.log(`CI phase: not measured — ${unavailableCi}`);
for (const r of runners) console.log(`${r.name}: ${r.version}`);
for (const [b, why] of Object.entries(unavailable)) console.log(`${b}: not measured — ${why}`);

const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
const report = {
  date: new Date().toISOString(),
  machine: {
    cpus: (await import('node:os')).cpus().length,
    memoryGiB: Math.round((await import('node:os')).totalmem() / 2 ** 30),
  },
  baseImage: { name: BASE_IMAGE_NAME, diffId: base.diffId },
  filesystem: scratchFs ? 'a fresh journaled ext4 image (bench/scratchfs.ts)' : 'the root filesystem',
  builders: Object.fromEntries(runners.map((r) => [r.name, r.version])),
  unavailable,
  measurements: results,
  summary,
  isolation,
  kilnPeakRssMiB: rss < 0 ? null : rss,
  kilnCiFetchedBytes: ciFetched,
  rssTargetMiB: RSS_TARGET_MIB,
};
writeResults(join(out, 'latest.json'), report);
console.log(`results: ${join(out, 'latest.json')}`);
if (values.keep) console.log(`kept ${scratch}`);
else if (scratchFs) unmountScratchFs();
else rmSync(scratch, { recursive: true, force: true });
