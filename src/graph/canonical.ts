/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, no whitespace. Equal values
 * encode to equal bytes, which is what makes vertex digests content addresses.
 */
import { KilnError } from '../errors/errors.ts';

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new KilnError('GRAPH_INVALID_VALUE', `cannot encode number ${value} in a graph op`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value))
        return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new KilnError('GRAPH_INVALID_VALUE', `cannot encode a ${typeof value} in a graph op`);
  }
}

/** A deep copy of a JSON-like value without `undefined` object members (what JSON would keep). */
export function cleanJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => cleanJson(v)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = cleanJson(v);
  return out as T;
}

/** Freeze a JSON-like value and everything inside it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
