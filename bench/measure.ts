/**
 * Measuring one command for bench/scaling.ts and bench/registry.ts: wall time, CPU seconds and
 * peak RSS from GNU time (`%e %U %S %M`), and, because Docker does its work inside dockerd rather
 * than in the `docker` CLI, dockerd's CPU seconds (from /proc/PID/stat) and its peak RSS (VmRSS
 * sampled every 50 ms) over the same interval; for bench/registry.ts, the registry's CPU seconds
 * too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from '../test/fidelity/builders.ts';

export const TIME = '/usr/bin/time';

export interface Timing {
  seconds: number;
  /** User + system CPU seconds of the command and its waited-for children. */
  cpu: number;
  /** Peak RSS of the command's largest process (GNU time's %M). */
  peakRssMiB: number;
  /** dockerd's CPU seconds during the command (Docker's work happens there). */
  dockerdCpu?: number;
  /** dockerd's peak VmRSS during the command, sampled. */
  dockerdPeakRssMiB?: number;
  /**
   * The CPU seconds of the registry the command talked to, over the same interval: a push's or
   * pull's other end, on the same cores (bench/registry.ts).
   */
  registryCpu?: number;
}

export function ensureTime(): void {
  if (!existsSync(TIME)) aptInstall(['time']);
}

/**
 * The dockerd behind /var/run/docker.sock: its default pidfile (other dockerds on this machine,
 * with sockets and pidfiles of their own, are not it).
 */
export function dockerdPid(): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync('/var/run/docker.pid', 'utf8').trim(), 10);
    return Number.isFinite(pid) && existsSync(`/proc/${pid}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function procCpu(pid: number): number {
  try {
    // Fields after the `(comm)`: utime, stime, cutime, cstime are the 14th–17th overall (clock
    // ticks); the children's count too, since dockerd unpacks layers in child processes.
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}

/** A memory figure of /proc/PID/status in MiB (VmRSS: now, VmHWM: its peak); 0 once the process is gone. */
export function procStatusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

let seq = 0;
/** Run `cmd args` under GNU time; throws with the output's tail when it fails. */
export async function timed(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; watchDockerd?: boolean; registryPid?: number } = {},
): Promise<Timing> {
  const out = join(tmpdir(), `kiln-bench-time-${process.pid}-${seq++}.txt`);
  const pid = opts.watchDockerd ? dockerdPid() : undefined;
  const cpu0 = pid ? procCpu(pid) : 0;
  const registryCpu0 = opts.registryPid ? procCpu(opts.registryPid) : 0;
  let rss = pid ? procStatusMiB(pid, 'VmRSS') : 0;
  const sampler = pid ? setInterval(() => (rss = Math.max(rss, procStatusMiB(pid, 'VmRSS'))), 50) : undefined;
  const start = process.hrtime.bigint();
  const child = spawn(TIME, ['-f', '%e %U %S %M', '-o', out, cmd, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const status: number | null = await new Promise((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sampler) clearInterval(sampler);
  const line = existsSync(out) ? (readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '') : '';
  rmSync(out, { force: true });
  if (status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${status}:\n${tail.trim().split('\n').slice(-8).join('\n')}`,
    );
  }
  const [, user, sys, kib] = line.split(' ').map(Number);
  const t: Timing = { seconds, cpu: user + sys, peakRssMiB: kib / 1024 };
  if (opts.registryPid) t.registryCpu = procCpu(opts.registryPid) - registryCpu0;
  if (pid) {
    t.dockerdCpu = procCpu(pid) - cpu0;
    t.dockerdPeakRssMiB = rss;
  }
  return t;
}

/** Run a command untimed; throws with the output's tail when it fails. */
export function untimed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  if (r.status !== 0) {
    const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${tail}`);
  }
  return r.stdout;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** "1.23" for one run, "1.20–1.31" for several (min–max). */
export function range(xs: number[], digits = 2): string {
  if (!xs.length) return 'n/a';
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(digits) === hi.toFixed(digits)
    ? lo.toFixed(digits)
    : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
}

/** The one-minute load average, as `uptime` shows it, to put beside the figures. */
export function load(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Print rows as an aligned table. */
export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  '));
}

/**
 * Write a results file in Biome's layout, so that `biome check bench` stays clean after a run
 * (bench/results is gitignored but inside the checked tree), as bench/run.ts does.
 */
export function writeResults(path: string, data: unknown): void {
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  const biome = join(import.meta.dirname, '..', 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', path], { stdio: 'ignore' });
}
