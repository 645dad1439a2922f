/**
 * Scaling (issue 20): W1's shape (bench/workloads.ts — COPY of small files plus 128 MiB of large
 * ones, then RUN find | wc -l) at several small-file counts, the same bytes per file, built by
 * kiln and by BuildKit (Docker Engine's, through the docker CLI as bench/run.ts drives it): cold,
 * warm and incremental (one small file changed) wall time, CPU seconds and peak RSS (kiln's
 * process; dockerd's, sampled, for BuildKit). Prints a table with kiln/BuildKit ratios and the
 * growth exponent of each phase between counts (time ∝ files^k: k ≤ 1 is "grows no faster than
 * the number of files"), and writes bench/results/scaling.{json,svg,png}.
 *
 *   node bench/scaling.ts [--counts 2000,20000,200000] [--repeat 3] [--builders kiln,buildkit] [--merge earlier.json]
 *
 * A cold build starts from the base unpacked, as bench/run.ts's do (kiln imports it with
 * `--unpack`; dockerd keeps its imported base unpacked).
 *
 * Unlike bench/run.ts this does not move dockerd to a scratch filesystem (other people may be
 * using the machine's dockerd): kiln's root and the contexts live on the filesystem that holds
 * dockerd's data root (/var/tmp next to /var/lib/docker), so both pay the same filesystem.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BASE_IMAGE_NAME, buildBusyboxRootfs } from '../test/fidelity/base.ts';
import { DOCKER, ensureDockerBase, KILN, kilnImportBase } from '../test/fidelity/builders.ts';
import { baseFilesystem } from '../test/fidelity/image-archive.ts';
import {
  dockerdPid,
  ensureTime,
  load,
  median,
  printTable,
  range,
  type Timing,
  timed,
  writeResults,
} from './measure.ts';
import { plot } from './plot.ts';
import { makeW1 } from './workloads.ts';

type Builder = 'kiln' | 'buildkit';
type Phase = 'cold' | 'warm' | 'incremental';
const PHASES: Phase[] = ['cold', 'warm', 'incremental'];

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '2000,20000,200000' },
    repeat: { type: 'string', default: '3' },
    builders: { type: 'string', default: 'kiln,buildkit' },
    keep: { type: 'boolean', default: false },
    merge: { type: 'string' },
  },
});
const counts = values.counts
  .split(',')
  .filter(Boolean)
  .map((c) => Number.parseInt(c, 10));
const repeat = Math.max(1, Number.parseInt(values.repeat, 10) || 1);
const builders = values.builders.split(',') as Builder[];

interface Result {
  files: number;
  builder: Builder;
  phase: Phase;
  runs: Timing[];
  load: string[];
  error?: string;
}
const results: Result[] = [];

ensureTime();
if (
  counts.length &&
  builders.includes('buildkit') &&
  spawnSync(DOCKER, ['info'], { stdio: 'ignore' }).status !== 0
)
  throw new Error('bench/scaling: dockerd is not running (start it, or pass --builders kiln)');
spawnSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'bundle.ts')], { stdio: 'inherit' });

const dockerVersion = spawnSync(DOCKER, ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
const work = mkdtempSync('/var/tmp/kiln-scaling-');
const rootfsTar = buildBusyboxRootfs(join(work, 'busybox-rootfs.tar'));
const base = baseFilesystem(rootfsTar);

/** Wait (up to 5 min) until dockerd answers and has the busybox base; returns dockerd's pid. */
function waitForDocker(rootfs: string, diffId: string): number | undefined {
  for (let i = 0; i < 300 && spawnSync(DOCKER, ['info'], { stdio: 'ignore' }).status !== 0; i++)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  ensureDockerBase(rootfs, diffId);
  return dockerdPid();
}

/** As bench/run.ts: flush and drop caches, then read the context back so no builder starts cold. */
function settle(ctx: string): void {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {}
  spawnSync('sh', ['-c', `find "${ctx}" -type f -exec cat {} + >/dev/null`]);
  spawnSync(KILN, ['--version'], { stdio: 'ignore' });
  spawnSync(DOCKER, ['version'], { stdio: 'ignore' });
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
}

for (const files of counts) {
  const dir = join(work, `n${files}`);
  mkdirSync(dir);
  const t0 = Date.now();
  const w = makeW1(dir, files);
  console.log(`W1 with ${files} small files generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const tag = `kiln-scaling-${files}`;
  let touches = 0;
  for (const b of builders) {
    let root = '';
    const build = (): Promise<Timing> =>
      b === 'kiln'
        ? timed(KILN, ['--root', root, 'build', '-q', '-t', tag, w.context])
        : timed(DOCKER, ['build', '-q', '-t', tag, w.context], {
            env: { DOCKER_BUILDKIT: '1' },
            watchDockerd: true,
          });
    // dockerd is shared: another bench may restart it (moving its data root) under us, which
    // empties BuildKit's cache mid-series. Then the series is thrown away and measured again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const pid = b === 'buildkit' ? waitForDocker(rootfsTar, base.diffId) : undefined;
      const mine: Result[] = [];
      for (const phase of PHASES) {
        const r: Result = { files, builder: b, phase, runs: [], load: [] };
        mine.push(r);
        for (let i = 0; i < (phase === 'cold' ? 1 : repeat) && !r.error; i++) {
          try {
            if (phase === 'cold') {
              if (b === 'kiln') {
                root = mkdtempSync(join(work, 'kiln-root-'));
                kilnImportBase(root, rootfsTar, { unpack: true });
              } else {
                spawnSync(DOCKER, ['rmi', '-f', tag], { stdio: 'ignore' });
                spawnSync(DOCKER, ['builder', 'prune', '-af'], { stdio: 'ignore' });
              }
              settle(w.context);
            }
            if (phase === 'incremental') w.touch?.(touches++);
            // As bench/run.ts: warm and incremental builds start with the disk quiet (a sync).
            if (phase !== 'cold') spawnSync('sync');
            r.load.push(load());
            r.runs.push(await build());
          } catch (err) {
            r.error = (err as Error).message;
          }
        }
        const secs = r.runs.map((t) => t.seconds);
        console.log(
          `  ${files} ${b.padEnd(8)} ${phase.padEnd(11)} ${r.error ? `error: ${r.error.split('\n').slice(0, 3).join(' | ')}` : `${range(secs)} s`}  (load ${r.load.join(' / ')})`,
        );
      }
      if (b === 'kiln' && root && !values.keep) rmSync(root, { recursive: true, force: true });
      const restarted = b === 'buildkit' && dockerdPid() !== pid;
      if (b === 'buildkit') spawnSync(DOCKER, ['builder', 'prune', '-af'], { stdio: 'ignore' });
      if (b === 'kiln' || !(restarted || mine.some((r) => r.error)) || attempt === 2) {
        results.push(...mine);
        break;
      }
      console.log(
        `  dockerd was restarted or failed during the series (${mine.find((r) => r.error)?.error?.split('\n')[0] ?? 'new pid'}); measuring it again`,
      );
    }
  }
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}

// --- report ---
// --merge FILE: put an earlier run's counts (those not measured now) into the table and the plot,
// so a long point (200,000 files) can be measured on its own; `--counts ''` only reports.
if (values.merge) {
  const earlier = JSON.parse(readFileSync(values.merge, 'utf8')) as { results: Result[] };
  const extra = earlier.results.filter((r) => !counts.includes(r.files));
  results.push(...extra);
  counts.push(...new Set(extra.map((r) => r.files)));
  counts.sort((a, b) => a - b);
}
const get = (files: number, b: Builder, p: Phase) =>
  results.find((r) => r.files === files && r.builder === b && r.phase === p && !r.error && r.runs.length);
const med = (r: Result | undefined, f: (t: Timing) => number | undefined) =>
  r ? median(r.runs.map((t) => f(t) ?? 0)) : undefined;
const fmtN = (v: number | undefined, d = 2, unit = '') =>
  v === undefined ? 'n/a' : `${v.toFixed(d)}${unit}`;

const rows: string[][] = [
  [
    'files',
    'phase',
    'kiln s',
    'BuildKit s',
    'kiln/BK',
    'target',
    'kiln CPU s',
    'dockerd CPU s',
    'kiln RSS MiB',
    'dockerd RSS MiB',
  ],
];
const TARGET: Record<Phase, number | undefined> = { cold: 0.4, warm: 0.3, incremental: 0.3 };
for (const files of counts)
  for (const p of PHASES) {
    const k = get(files, 'kiln', p);
    const bk = get(files, 'buildkit', p);
    const ks = med(k, (t) => t.seconds);
    const bs = med(bk, (t) => t.seconds);
    const ratio = ks !== undefined && bs ? ks / bs : undefined;
    const target = TARGET[p];
    rows.push([
      String(files),
      p,
      k ? range(k.runs.map((t) => t.seconds)) : 'n/a',
      bk ? range(bk.runs.map((t) => t.seconds)) : 'n/a',
      ratio === undefined
        ? 'n/a'
        : `${ratio.toFixed(2)}x${target !== undefined && ratio > target ? ' (miss)' : ''}`,
      target === undefined ? '' : `<=${target}`,
      k ? range(k.runs.map((t) => t.cpu)) : 'n/a',
      bk ? range(bk.runs.map((t) => t.dockerdCpu ?? 0)) : 'n/a',
      k ? Math.max(...k.runs.map((t) => t.peakRssMiB)).toFixed(0) : 'n/a',
      bk ? Math.max(...bk.runs.map((t) => t.dockerdPeakRssMiB ?? 0)).toFixed(0) : 'n/a',
    ]);
  }
console.log('');
printTable(rows);

console.log(
  '\ngrowth exponent k (median time ∝ files^k) between consecutive counts; k <= 1 is linear or better',
);
const growth: string[][] = [['builder', 'phase', ...counts.slice(1).map((c, i) => `${counts[i]}→${c}`)]];
for (const b of builders)
  for (const p of PHASES)
    growth.push([
      b,
      p,
      ...counts.slice(1).map((c, i) => {
        const a = med(get(counts[i], b, p), (t) => t.seconds);
        const z = med(get(c, b, p), (t) => t.seconds);
        return a && z ? fmtN(Math.log(z / a) / Math.log(c / counts[i])) : 'n/a';
      }),
    ]);
printTable(growth);
for (const [files, cap] of [
  [20_000, 200],
  [200_000, 400],
] as const) {
  const all = PHASES.map((p) => get(files, 'kiln', p)).filter((r) => r !== undefined);
  if (!all.length) continue;
  const peak = Math.max(...all.flatMap((r) => r.runs.map((t) => t.peakRssMiB)));
  console.log(
    `kiln peak RSS at ${files} files: ${peak.toFixed(0)} MiB (target <= ${cap} MiB: ${peak <= cap ? 'met' : 'MISSED'})`,
  );
}
console.log(
  `machine: ${cpus().length} CPUs (shared), ${Math.round(totalmem() / 2 ** 30)} GiB; BuildKit: Docker Engine ${dockerVersion.stdout.trim()}; filesystem: ${work}`,
);

const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
writeResults(join(out, 'scaling.json'), {
  date: new Date().toISOString(),
  baseImage: BASE_IMAGE_NAME,
  counts,
  repeat,
  results,
});
const COLORS: Record<Phase, string> = { cold: '#1f77b4', warm: '#d62728', incremental: '#2ca02c' };
const series = (f: (t: Timing) => number | undefined, bs: Builder[]) =>
  bs.flatMap((b) =>
    PHASES.map((p) => ({
      label: `${b} ${p}`,
      color: COLORS[p],
      dashed: b === 'buildkit',
      points: counts.map((c) => [c, med(get(c, b, p), f) ?? 0] as [number, number]).filter(([, y]) => y > 0),
    })),
  );
const png = plot(
  [
    { title: 'W1 scaling: wall time', yLabel: 'seconds (log)', series: series((t) => t.seconds, builders) },
    {
      title: 'W1 scaling: peak RSS',
      yLabel: 'MiB (log; BuildKit: dockerd)',
      series: series((t) => t.dockerdPeakRssMiB ?? t.peakRssMiB, builders),
    },
  ],
  join(out, 'scaling'),
  `kiln solid, BuildKit (Docker ${dockerVersion.stdout.trim()}) dashed; medians; ${new Date().toISOString()}; ${cpus().length} shared CPUs`,
);
console.log(`results: ${join(out, 'scaling.json')}${png ? `, plot: ${png}` : ' (no PNG: chromium missing)'}`);
if (!values.keep) rmSync(work, { recursive: true, force: true });
