/**
 * HEALTHCHECK: `NONE`, or `CMD` with --interval/--timeout/--start-period/--start-interval
 * (Go durations, at least 1ms unless 0) and --retries (BuildKit parseHealthcheck).
 */
import { base, fail, handleJSONArgs, type Request } from './request.ts';
import type { HealthConfig, Instruction } from './types.ts';

/** Docker's container.MinimumDuration (1ms), in nanoseconds. */
const MIN_DURATION_NS = 1_000_000;

/**
 * Go time.ParseDuration → nanoseconds. Throws InstructionError on bad syntax.
 */
export function parseGoDuration(s: string): number {
  const orig = s;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') fail(`time: invalid duration "${orig}"`);
  const units: Record<string, number> = {
    ns: 1,
    us: 1e3,
    µs: 1e3,
    μs: 1e3,
    ms: 1e6,
    s: 1e9,
    m: 60e9,
    h: 3600e9,
  };
  let total = 0;
  // µs (U+00B5) and μs (U+03BC) as escapes: the bundle stays ASCII (scripts/bundle.ts).
  const re = /^(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/u;
  while (s !== '') {
    const m = re.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
      if (m && m[3] === undefined) fail(`time: missing unit in duration "${orig}"`);
      fail(
        /^[\d.]+$/.test(s) ? `time: missing unit in duration "${orig}"` : `time: invalid duration "${orig}"`,
      );
    }
    const mm = m!;
    const unit = units[mm[3]!]!;
    total += Number(mm[1] || '0') * unit + (mm[2] ? Number(`0.${mm[2]}`) * unit : 0);
    s = s.slice(mm[0].length);
  }
  return Math.round(neg ? -total : total);
}

/** HEALTHCHECK duration flag: '' or 0 → 0 (default); otherwise at least 1ms. */
export function parseOptInterval(name: string, value: string): number {
  if (value === '') return 0;
  const d = parseGoDuration(value);
  if (d === 0) return 0;
  if (d < MIN_DURATION_NS) fail(`Interval "${name}" cannot be less than 1ms`);
  return d;
}

export function parseHealthcheck(req: Request): Instruction {
  if (req.args.length === 0) fail('HEALTHCHECK requires at least one argument');
  let typ = req.args[0]!.toUpperCase();
  const args = req.args.slice(1);
  const empty = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (typ === 'NONE') {
    if (args.length !== 0) fail('HEALTHCHECK NONE takes no arguments');
    return { ...base(req, 'HEALTHCHECK'), kind: 'HEALTHCHECK', health: { test: [typ], ...empty } };
  }
  const f = req.flags;
  const interval = f.addString('interval', '');
  const timeout = f.addString('timeout', '');
  const startPeriod = f.addString('start-period', '');
  const startInterval = f.addString('start-interval', '');
  const retries = f.addString('retries', '');
  f.parse();
  if (typ !== 'CMD') fail(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
  const cmd = handleJSONArgs(args, req.json);
  if (cmd.length === 0) fail('Missing command after HEALTHCHECK CMD');
  if (!req.json) typ = 'CMD-SHELL';
  let r = 0;
  if (retries.value !== '') {
    if (!/^[+-]?\d+$/.test(retries.value))
      fail(`strconv.ParseInt: parsing "${retries.value}": invalid syntax`);
    r = Number.parseInt(retries.value, 10);
    if (r > 2 ** 31 - 1 || r < -(2 ** 31))
      fail(`strconv.ParseInt: parsing "${retries.value}": value out of range`);
    if (r < 0) fail(`--retries cannot be negative (${r})`);
  }
  const health: HealthConfig = {
    test: [typ, ...cmd],
    interval: parseOptInterval('interval', interval.value),
    timeout: parseOptInterval('timeout', timeout.value),
    startPeriod: parseOptInterval('start-period', startPeriod.value),
    startInterval: parseOptInterval('start-interval', startInterval.value),
    retries: r,
  };
  return { ...base(req, 'HEALTHCHECK'), kind: 'HEALTHCHECK', health };
}
