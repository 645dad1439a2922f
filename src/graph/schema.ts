/**
 * A small structural validator for untrusted JSON: strict objects (unknown members refused),
 * bounded strings, arrays and integers, tagged unions. It checks a value against a schema and
 * throws with the JSON path of the first member that does not fit; recursion follows the
 * schema, never the data, so hostile nesting cannot exhaust the stack.
 */

/** A member that does not fit: `path` is JSONPath-like (`$.vertices[3].op.args`). */
export class SchemaError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    const text = `${path}: ${message}`;
    super(text);
    this.path = path;
  }
}

export type Schema =
  | { t: 'string'; max: number; nul?: boolean; pattern?: RegExp; what?: string }
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'null' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'array'; of: Schema; min: number; max: number }
  | { t: 'object'; fields: Record<string, Schema>; optional: ReadonlySet<string>; extra?: Schema }
  | { t: 'record'; of: Schema; max: number; key?: RegExp }
  | { t: 'tagged'; tag: string; cases: Record<string, Schema> }
  | { t: 'nullable'; of: Schema }
  | { t: 'json'; depth: number; max: number }
  | { t: 'either'; of: readonly Schema[]; what: string }
  | { t: 'scalar'; max: number };

/** Strings are capped at 1 MiB unless said otherwise; NUL is refused unless allowed. */
export const str = (
  max = 1 << 20,
  opts: { nul?: boolean; pattern?: RegExp; what?: string } = {},
): Schema => ({
  t: 'string',
  max,
  ...opts,
});
export const int = (min: number, max: number): Schema => ({ t: 'int', min, max });
export const bool: Schema = { t: 'bool' };
export const oneOf = (...values: string[]): Schema => ({ t: 'enum', values });
export const arr = (of: Schema, max: number, min = 0): Schema => ({ t: 'array', of, min, max });
export const nullable = (of: Schema): Schema => ({ t: 'nullable', of });
export const record = (of: Schema, max: number, key?: RegExp): Schema => ({ t: 'record', of, max, key });
export const tagged = (tag: string, cases: Record<string, Schema>): Schema => ({ t: 'tagged', tag, cases });
/** Any JSON value, nested at most `depth` deep and with at most `max` members in all. */
export const json = (depth: number, max: number): Schema => ({ t: 'json', depth, max });

/** The first of `of` that fits; `what` names them all for the error. */
export const either = (what: string, ...of: Schema[]): Schema => ({ t: 'either', of, what });
/** A string, number or boolean (YAML's `PORT: 80`), read as its text. */
export const scalar = (max = 1 << 20): Schema => ({ t: 'scalar', max });

/** An object with exactly these members; those named in `optional` may be absent. */
export function obj(fields: Record<string, Schema>, optional: string[] = [], extra?: Schema): Schema {
  return { t: 'object', fields, optional: new Set(optional), extra };
}

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throw a SchemaError unless `value` fits `schema`. */
export function check(schema: Schema, value: unknown, path = '$'): void {
  switch (schema.t) {
    case 'string': {
      if (typeof value !== 'string') throw new SchemaError(path, `expected a string, got ${kindOf(value)}`);
      if (value.length > schema.max)
        throw new SchemaError(path, `string longer than ${schema.max} characters`);
      if (!schema.nul && value.includes('\0')) throw new SchemaError(path, 'string holds a NUL character');
      if (schema.pattern && !schema.pattern.test(value)) {
        throw new SchemaError(path, `${JSON.stringify(value.slice(0, 80))} is not ${schema.what ?? 'valid'}`);
      }
      return;
    }
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new SchemaError(path, `expected an integer, got ${kindOf(value)}`);
      }
      if (value < schema.min || value > schema.max) {
        throw new SchemaError(path, `${value} is outside ${schema.min}..${schema.max}`);
      }
      return;
    case 'bool':
      if (typeof value !== 'boolean')
        throw new SchemaError(path, `expected true or false, got ${kindOf(value)}`);
      return;
    case 'null':
      if (value !== null) throw new SchemaError(path, `expected null, got ${kindOf(value)}`);
      return;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) {
        throw new SchemaError(
          path,
          `expected one of ${schema.values.join(', ')}, got ${JSON.stringify(value)}`,
        );
      }
      return;
    case 'nullable':
      if (value !== null) check(schema.of, value, path);
      return;
    case 'array':
      if (!Array.isArray(value)) throw new SchemaError(path, `expected an array, got ${kindOf(value)}`);
      if (value.length > schema.max) throw new SchemaError(path, `more than ${schema.max} items`);
      if (value.length < schema.min) throw new SchemaError(path, `fewer than ${schema.min} items`);
      for (let i = 0; i < value.length; i++) check(schema.of, value[i], `${path}[${i}]`);
      return;
    case 'record': {
      if (!isPlainObject(value)) throw new SchemaError(path, `expected an object, got ${kindOf(value)}`);
      const keys = Object.keys(value);
      if (keys.length > schema.max) throw new SchemaError(path, `more than ${schema.max} members`);
      for (const k of keys) {
        if (k.length > 4096 || (schema.key && !schema.key.test(k))) {
          throw new SchemaError(path, `invalid member name ${JSON.stringify(k.slice(0, 80))}`);
        }
        check(schema.of, value[k], `${path}[${JSON.stringify(k)}]`);
      }
      return;
    }
    case 'object': {
      if (!isPlainObject(value)) throw new SchemaError(path, `expected an object, got ${kindOf(value)}`);
      for (const k of Object.keys(value)) {
        const f = schema.fields[k];
        if (f) check(f, value[k], `${path}.${k}`);
        else if (schema.extra) check(schema.extra, value[k], `${path}[${JSON.stringify(k.slice(0, 80))}]`);
        else throw new SchemaError(path, `unknown member ${JSON.stringify(k.slice(0, 80))}`);
      }
      for (const k of Object.keys(schema.fields)) {
        if (!(k in value) && !schema.optional.has(k)) throw new SchemaError(path, `missing member "${k}"`);
      }
      return;
    }
    case 'tagged': {
      if (!isPlainObject(value)) throw new SchemaError(path, `expected an object, got ${kindOf(value)}`);
      const tag = value[schema.tag];
      const c = typeof tag === 'string' && Object.hasOwn(schema.cases, tag) ? schema.cases[tag] : undefined;
      if (!c) {
        throw new SchemaError(
          `${path}.${schema.tag}`,
          `unknown ${schema.tag} ${JSON.stringify(tag)}; expected one of ${Object.keys(schema.cases).join(', ')}`,
        );
      }
      check(c, value, path);
      return;
    }
    case 'json':
      checkJson(value, path, schema.depth, { left: schema.max });
      return;
    case 'either': {
      // An error deeper than the value itself (a bad item of the right kind of list) is the
      // one to report; otherwise say what kinds were possible.
      let deepest: SchemaError | undefined;
      for (const s of schema.of) {
        try {
          check(s, value, path);
          return;
        } catch (err) {
          if (!(err instanceof SchemaError)) throw err;
          if (err.path !== path && !deepest) deepest = err;
        }
      }
      throw deepest ?? new SchemaError(path, `expected ${schema.what}, got ${kindOf(value)}`);
    }
    case 'scalar':
      if (
        typeof value === 'number'
          ? !Number.isFinite(value)
          : typeof value !== 'string' && typeof value !== 'boolean'
      ) {
        throw new SchemaError(path, `expected a string, number or boolean, got ${kindOf(value)}`);
      }
      if (String(value).length > schema.max)
        throw new SchemaError(path, `longer than ${schema.max} characters`);
      if (String(value).includes('\0')) throw new SchemaError(path, 'string holds a NUL character');
      return;
  }
}

function checkJson(value: unknown, path: string, depth: number, budget: { left: number }): void {
  if (--budget.left < 0) throw new SchemaError(path, 'too many members');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SchemaError(path, 'not a finite number');
    return;
  }
  if (typeof value !== 'object') throw new SchemaError(path, `unexpected ${typeof value}`);
  if (depth <= 0) throw new SchemaError(path, 'nested too deeply');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkJson(value[i], `${path}[${i}]`, depth - 1, budget);
  } else {
    for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`, depth - 1, budget);
  }
}
