/**
 * The few Go `fmt` renderings BuildKit puts into image history (`%q` and `%v` of string slices,
 * time.Duration, `%+v` of a healthcheck), so kiln's history reads exactly like BuildKit's.
 */
import { goQuote } from '../shell/quote.ts';

/** Go `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => goQuote(s)).join(' ')}]`;
}

/** Go `%v` of a []string: `[a b]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

function trimFraction(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Go time.Duration.String() of a nanosecond count. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trimFraction((n / 1e3).toFixed(3))}µs`;
  else if (n < 1e9) out = `${trimFraction((n / 1e6).toFixed(6))}ms`;
  else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const s = `${trimFraction((n / 1e9).toFixed(9))}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

export interface GoHealth {
  test: readonly string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

/** Go `%+v` of BuildKit's HealthcheckConfig. */
export function goHealth(h: GoHealth): string {
  return (
    `{Test:${goList(h.test)} Interval:${goDuration(h.interval)} Timeout:${goDuration(h.timeout)} ` +
    `StartPeriod:${goDuration(h.startPeriod)} StartInterval:${goDuration(h.startInterval)} Retries:${h.retries}}`
  );
}
