/**
 * docker's human units, to the character: sizes in SI units through Go's `%.Ng` (go-units
 * HumanSizeWithPrecision: 3 significant digits in tables, 4 elsewhere, so 999999 bytes is
 * "1e+03kB" as docker prints it), durations as go-units HumanDuration ("About an hour ago"),
 * times as Go's Time.String() and RFC 3339 in the local zone, and IDs cut to 12 hex digits.
 */

/** Go's `%.<precision>g`: shortest of fixed and exponent form, trailing zeros dropped. */
export function goFormatG(x: number, precision: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  const p = Math.max(1, precision);
  const exp = x.toExponential(p - 1);
  const e = Number(exp.slice(exp.indexOf('e') + 1));
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (e < -4 || e >= p) {
    const mantissa = strip(exp.slice(0, exp.indexOf('e')));
    const abs = Math.abs(e);
    return `${mantissa}e${e < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : abs}`;
  }
  return strip(x.toFixed(Math.max(0, p - 1 - e)));
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSizeWithPrecision: 2129920 → "2.13MB" (3) or "2.13MB" (4: "2.130" loses its zero). */
export function humanSize(bytes: number, precision = 4): string {
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < DECIMAL_UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${goFormatG(n, precision)}${DECIMAL_UNITS[i]}`;
}

/** go-units HumanDuration of `ms` milliseconds ("Less than a second" … "2 years"). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  // Go's Duration.Round(time.Hour): half away from zero.
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** "3 hours ago" for an ISO time, measured at `now`; undefined when there is no time. */
export function timeSince(iso: string | undefined, now: number): string | undefined {
  const t = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(t)) return undefined;
  return `${humanDuration(now - t)} ago`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

function zoneOffset(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${sign}${pad2(Math.trunc(a / 60))}${pad2(a % 60)}`;
}

function zoneName(d: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName')?.value;
  return part === 'GMT' && d.getTimezoneOffset() === 0 ? 'UTC' : (part ?? 'UTC');
}

function localDateTime(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Go's `time.Unix(sec, 0).String()`: "2024-01-02 15:04:05 +0000 UTC" in the local zone. */
export function goTimeString(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return `${localDateTime(d)} ${zoneOffset(d)} ${zoneName(d)}`;
}

/** Go's `Format(time.RFC3339)` in the local zone: "2024-01-02T15:04:05Z" or "…+01:00". */
export function rfc3339(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const off = zoneOffset(d);
  const zone = off === '+0000' ? 'Z' : `${off.slice(0, 3)}:${off.slice(3)}`;
  return `${localDateTime(d).replace(' ', 'T')}${zone}`;
}

/** Seconds since the epoch of an ISO time (0 when absent), as the Engine API carries `Created`. */
export function epochSeconds(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/** docker's stringid.TruncateID: drop the algorithm, keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** docker's formatter.Ellipsis for ASCII and ordinary text: cut to `max` characters ending in "…". */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const chars = [...s];
  if (max === 1) return chars[0] ?? '';
  if (chars.length <= max) return s;
  return `${chars.slice(0, max - 1).join('')}…`;
}
