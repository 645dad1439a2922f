/**
 * The resource limits of a RUN's processes: Docker's RLIMIT_NOFILE default and the build's
 * `--ulimit` values over it, checked against what this process may grant, and their JSON for
 * runc (where an unlimited value is 2^64-1, a number JavaScript cannot write exactly).
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../../errors/errors.ts';
import type { Ulimit } from '../executor.ts';

export interface Rlimit {
  type: string;
  /** -1 means unlimited (RLIM_INFINITY). */
  hard: number;
  soft: number;
}

/** The row of /proc/self/limits for each Docker ulimit name. */
const PROC_LIMITS: Record<string, string> = {
  core: 'Max core file size',
  cpu: 'Max cpu time',
  data: 'Max data size',
  fsize: 'Max file size',
  locks: 'Max file locks',
  memlock: 'Max locked memory',
  msgqueue: 'Max msgqueue size',
  nice: 'Max nice priority',
  nofile: 'Max open files',
  nproc: 'Max processes',
  rss: 'Max resident set',
  rtprio: 'Max realtime priority',
  rttime: 'Max realtime timeout',
  sigpending: 'Max pending signals',
  stack: 'Max stack size',
};

const CAP_SYS_RESOURCE = 24n;

/** This process's hard limit for a Docker ulimit name; -1 for unlimited or unknown. */
function hostHardLimit(name: string, limits: string): number {
  const row = PROC_LIMITS[name];
  const line = limits.split('\n').find((l) => l.startsWith(row));
  // "Max open files            20000                20000                files"
  const hard = line?.slice(row.length).trim().split(/\s+/)[1];
  return hard && /^\d+$/.test(hard) ? Number(hard) : -1;
}

/** runc sets the limits from its own process, which can raise a hard limit only with CAP_SYS_RESOURCE. */
function canRaise(): boolean {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    return ((BigInt(`0x${line?.split(/\s+/)[1] ?? '0'}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  } catch {
    return true;
  }
}

const above = (want: number, have: number) => have !== -1 && (want === -1 || want > have);

/**
 * RLIMIT_NOFILE is Docker's 1048576 capped at this process's hard limit (which runc could not
 * raise); each `--ulimit` replaces the limit of its name. A hard limit above this process's own
 * that runc cannot grant is refused here, naming the flag, rather than failing inside runc.
 */
export function containerRlimits(ulimits: readonly Ulimit[] = []): Rlimit[] {
  let limits = '';
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    // Not Linux /proc: no host limits known, nothing checked.
  }
  const hostNofile = limits ? hostHardLimit('nofile', limits) : -1;
  const nofile = hostNofile === -1 ? 1048576 : Math.min(1048576, hostNofile);
  const byType = new Map<string, Rlimit>([
    ['RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
  ]);
  const raise = ulimits.length > 0 && canRaise();
  for (const u of ulimits) {
    const have = limits ? hostHardLimit(u.name, limits) : -1;
    if (!raise && above(u.hard, have)) {
      const text = `${u.name}=${u.soft === -1 ? 'unlimited' : u.soft}:${u.hard === -1 ? 'unlimited' : u.hard}`;
      throw new KilnError(
        'ULIMIT_TOO_HIGH',
        `--ulimit ${text}: the hard limit is above kiln's own (${have}), and kiln may not raise it (no CAP_SYS_RESOURCE)`,
        { hint: `give a hard limit of at most ${have}, or start kiln with a higher limit (ulimit -H)` },
      );
    }
    byType.set(`RLIMIT_${u.name.toUpperCase()}`, {
      type: `RLIMIT_${u.name.toUpperCase()}`,
      hard: u.hard,
      soft: u.soft,
    });
  }
  return [...byType.values()];
}

/** RLIM_INFINITY as runc reads it (a uint64). */
const RLIM_INFINITY = '18446744073709551615';
const INFINITY_MARK = '\u0000kiln-rlim-infinity\u0000';

/** config.json's text: JSON, with unlimited rlimits written as RLIM_INFINITY. */
export function specJson(config: unknown): string {
  const text = JSON.stringify(
    config,
    function (this: unknown, key, value) {
      const inRlimit =
        (key === 'hard' || key === 'soft') && this && typeof this === 'object' && 'type' in this;
      return inRlimit && value === -1 ? INFINITY_MARK : value;
    },
    2,
  );
  return text.replaceAll(JSON.stringify(INFINITY_MARK), RLIM_INFINITY);
}
