/**
 * The Engine API's vocabulary as kiln serves it: the API versions it speaks, how a KilnError
 * becomes an HTTP status and docker's `{"message": …}` body, and the query helpers every route
 * uses (docker's booleans, repeated and JSON-encoded parameters).
 */
import { type ErrorCode, KilnError } from '../errors/errors.ts';

/** The API versions served: requests under /v1.24 … /v1.47 and unversioned ones (the newest). */
export const MIN_API_VERSION = '1.24';
export const API_VERSION = '1.47';

/** Compare dotted versions numerically (`1.9` < `1.41`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** An error with the status dockerd would answer it with. */
export class HttpError extends KilnError {
  readonly status: number;
  constructor(status: number, code: ErrorCode, message: string, hint?: string) {
    super(code, message, { hint });
    this.status = status;
  }
}

/** Codes whose errors are the client's fault (400) or name what does not exist (404). */
const NOT_FOUND = new Set(['IMAGE_NOT_FOUND', 'REGISTRY_NOT_FOUND', 'DOCKERFILE_NOT_FOUND']);
const CONFLICT = new Set(['IMAGE_IN_USE', 'IMAGE_AMBIGUOUS', 'IMAGE_CONFLICT']);

/** The HTTP status for an error: its own, 404/409 by code, 400 for input kiln refused, else 500. */
export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return 500;
  if (NOT_FOUND.has(code)) return 404;
  if (CONFLICT.has(code)) return 409;
  if (code === 'REGISTRY_UNAUTHORIZED') return 401;
  if (code === 'REGISTRY_DENIED') return 403;
  if (code === 'DISK_FULL' || code.startsWith('REGISTRY_')) return 500;
  return err instanceof KilnError ? 400 : 500;
}

/** docker's error text: the message, and kiln's hint after it (clients show only `message`). */
export function messageOf(err: unknown): string {
  const e = err as Partial<KilnError> & { message?: string };
  const where = e.location ? `${e.location.file}:${e.location.startLine}: ` : '';
  const text = `${where}${e.message ?? String(err)}`;
  return e.hint ? `${text} (hint: ${e.hint})` : text;
}

/** docker's query booleans: `1`, `true`, `True` are true; absent, `0`, `false`, '' are false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** A parameter holding a JSON object of strings (`buildargs`, `labels`), checked. */
export function queryJsonMap(q: URLSearchParams, name: string): Record<string, string> {
  const text = q.get(name);
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_QUERY', `query parameter ${name} is not JSON: ${text.slice(0, 200)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new HttpError(400, 'INVALID_QUERY', `query parameter ${name} must be a JSON object`);
  const out: Record<string, string> = {};
  // docker sends `{"ARG": null}` for `--build-arg ARG` with ARG unset: no value.
  for (const [k, val] of Object.entries(v)) if (val !== null) out[k] = String(val);
  return out;
}

/**
 * docker's `filters` parameter: `{"name": ["v", …]}`, or the old `{"name": {"v": true}}`, as
 * a flat list of `name=v` strings (the form kiln's CLI filters take).
 */
export function queryFilters(q: URLSearchParams): string[] {
  const text = q.get('filters');
  if (!text) return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_FILTER', `filters is not JSON: ${text.slice(0, 200)}`);
  }
  if (typeof v !== 'object' || v === null)
    throw new HttpError(400, 'INVALID_FILTER', 'filters must be a JSON object');
  const out: string[] = [];
  for (const [name, values] of Object.entries(v)) {
    const list = Array.isArray(values)
      ? values
      : typeof values === 'object' && values !== null
        ? Object.keys(values).filter((k) => (values as Record<string, unknown>)[k])
        : [];
    for (const x of list) out.push(`${name}=${String(x)}`);
  }
  return out;
}
