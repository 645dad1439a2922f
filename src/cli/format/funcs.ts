/**
 * The functions docker's templates have (text/template's builtins plus docker's json, join,
 * split, title, upper, lower, pad and truncate) and Go's way of printing values (`%v`):
 * lists as `[a b]`, maps as `map[k:v]` with sorted keys, nil as `<nil>`, a missing key as
 * `<no value>`.
 */
import { KilnError } from '../../errors/errors.ts';

type Value = unknown;
export type TemplateFunc = (...args: Value[]) => Value;

/** Objects whose missing fields are an error (docker's row contexts), not Go's `<no value>`. */
const STRICT = Symbol('strict');
/** Mark `obj` as a docker formatter context: unknown fields fail, and `json` escapes HTML as Go's json.Marshal does. */
export function strictContext<T extends object>(obj: T): T {
  Object.defineProperty(obj, STRICT, { value: true });
  return obj;
}

/** True for a formatter context (see strictContext). */
export function isStrict(v: Value): boolean {
  return Boolean(v && typeof v === 'object' && (v as Record<symbol, unknown>)[STRICT]);
}

export function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Go's `%v`. */
export function printValue(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? '<nil>' : printValue(x))).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, Value>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${printValue(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

/** docker's `json`: one line, no HTML escaping, except for formatter contexts (Go's json.Marshal does escape them). */
export function toJson(v: Value): string {
  const strict = isStrict(v);
  let s = JSON.stringify(v === undefined ? null : v) ?? 'null';
  s = s.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  if (strict) s = s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return s;
}

function sprint(args: Value[], spaces: boolean): string {
  let out = '';
  args.forEach((a, i) => {
    // Go's Sprint adds a space between operands when neither is a string; Sprintln always does.
    if (i > 0 && (spaces || (typeof a !== 'string' && typeof args[i - 1] !== 'string'))) out += ' ';
    out += printValue(a);
  });
  return out;
}

function sprintf(format: string, ...args: Value[]): string {
  let i = 0;
  return String(format).replace(
    /%([-+ #0]*\d*(?:\.\d+)?)([svdqtfgx%])/g,
    (_m, flags: string, verb: string) => {
      if (verb === '%') return '%';
      const a = args[i++];
      let s: string;
      if (verb === 'q') s = JSON.stringify(String(a));
      else if (verb === 'd') s = String(Math.trunc(Number(a)));
      else if (verb === 'x')
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(String(a)).toString('hex');
      else s = printValue(a);
      const width = Number(/\d+/.exec(flags)?.[0] ?? 0);
      return flags.includes('-') ? s.padEnd(width) : s.padStart(width);
    },
  );
}

function compare(a: Value, b: Value): number {
  if (typeof a !== typeof b)
    throw new KilnError('FORMAT_FAILED', 'template: incompatible types for comparison');
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function index(v: Value, ...keys: Value[]): Value {
  let cur = v;
  for (const k of keys) {
    if (Array.isArray(cur) || typeof cur === 'string') {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 0 || n >= cur.length) {
        throw new KilnError(
          'FORMAT_FAILED',
          `template: error calling index: index out of range: ${String(k)}`,
        );
      }
      cur = cur[n];
    } else if (cur && typeof cur === 'object') cur = (cur as Record<string, Value>)[String(k)];
    else if (cur === null || cur === undefined) return undefined;
    else
      throw new KilnError(
        'FORMAT_FAILED',
        `template: error calling index: can't index item of type ${typeof cur}`,
      );
  }
  return cur;
}

export const FUNCS: Record<string, TemplateFunc> = {
  json: (v) => toJson(v),
  index: (v, ...k) => index(v, ...k),
  join: (v, sep) => (Array.isArray(v) ? v.map((x) => printValue(x)).join(String(sep)) : printValue(v)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => String(s).toUpperCase(),
  lower: (s) => String(s).toLowerCase(),
  title: (s) =>
    String(s).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  pad: (s, l, r) => (s === '' ? '' : `${' '.repeat(Number(l))}${printValue(s)}${' '.repeat(Number(r))}`),
  truncate: (s, n) => {
    const str = printValue(s);
    return str.length < Number(n) ? str : str.slice(0, Number(n));
  },
  len: (v) =>
    Array.isArray(v) || typeof v === 'string'
      ? v.length
      : v && typeof v === 'object'
        ? Object.keys(v).length
        : 0,
  print: (...a) => sprint(a, false),
  println: (...a) => `${sprint(a, true)}\n`,
  printf: (f, ...a) => sprintf(String(f), ...a),
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  not: (a) => !truthy(a),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
};
