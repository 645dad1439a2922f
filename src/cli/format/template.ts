/**
 * A subset of Go's text/template, the language of docker's `--format`: text and `{{ }}` actions
 * with trim markers, fields and nested fields, `$` variables, pipelines (`|`), parentheses,
 * `if`/`else if`/`range`/`with`/`else`/`end`, and docker's functions (json, index, join, split,
 * upper, lower, title, pad, truncate, len, print, println, printf, eq, ne, lt, le, gt, ge, and,
 * or, not). Values print as Go's `%v` does: lists as `[a b]`, maps as `map[k:v]`.
 */
import { KilnError } from '../../errors/errors.ts';

type Value = unknown;
export type TemplateFunc = (...args: Value[]) => Value;

type Arg =
  | { k: 'field'; base?: Arg; names: string[] }
  | { k: 'var'; name: string; names: string[] }
  | { k: 'lit'; value: Value }
  | { k: 'ident'; name: string }
  | { k: 'pipe'; pipe: Pipeline; names: string[] };
interface Pipeline {
  decl: string[];
  cmds: Arg[][];
}
interface Block {
  k: 'if' | 'with' | 'range';
  pipe: Pipeline;
  body: Node[];
  alt: Node[];
}
type Node = { k: 'text'; text: string } | { k: 'action'; pipe: Pipeline } | Block;

/** Objects whose missing fields are an error (docker's row contexts), not Go's `<no value>`. */
const STRICT = Symbol('strict');
/** Mark `obj` as a docker formatter context: unknown fields fail, and `json` escapes HTML as Go's json.Marshal does. */
export function strictContext<T extends object>(obj: T): T {
  Object.defineProperty(obj, STRICT, { value: true });
  return obj;
}

function fail(message: string): never {
  throw new KilnError('INVALID_FORMAT', `template parsing error: ${message}`, {
    hint: 'write a Go template such as "{{.ID}}\\t{{.Size}}", "table {{.Repository}}" or "json"',
  });
}

// ---- lexing and parsing --------------------------------------------------------------------

const TOKEN =
  /\s+|"(?:[^"\\]|\\.)*"|`[^`]*`|:=|[|(),=]|-?\d+(?:\.\d+)?|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*|(?:\.[A-Za-z0-9_]+)+|\.|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(src);
    if (!m || m.index !== at) fail(`unexpected "${src.slice(at, at + 10)}" in command`);
    if (!/^\s+$/.test(m[0])) out.push(m[0]);
  }
  return out;
}

function parseArg(tokens: string[], pos: { i: number }): Arg {
  const t = tokens[pos.i++];
  if (t === '(') {
    const end = matching(tokens, pos.i - 1);
    const pipe = parsePipeline(tokens.slice(pos.i, end));
    pos.i = end + 1;
    const names: string[] = [];
    while (tokens[pos.i]?.startsWith('.') && tokens[pos.i] !== '.')
      names.push(...tokens[pos.i++].slice(1).split('.'));
    return { k: 'pipe', pipe, names };
  }
  if (t.startsWith('"')) {
    try {
      return { k: 'lit', value: JSON.parse(t) };
    } catch {
      fail(`bad string ${t}`);
    }
  }
  if (t.startsWith('`')) return { k: 'lit', value: t.slice(1, -1) };
  if (/^-?\d/.test(t)) return { k: 'lit', value: Number(t) };
  if (t === 'true' || t === 'false') return { k: 'lit', value: t === 'true' };
  if (t === 'nil') return { k: 'lit', value: null };
  if (t === '.') return { k: 'field', names: [] };
  if (t.startsWith('.')) return { k: 'field', names: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...names] = t.split('.');
    return { k: 'var', name, names };
  }
  if (/^[A-Za-z_]/.test(t) && !t.includes('.')) return { k: 'ident', name: t };
  fail(`unexpected "${t}" in command`);
}

function matching(tokens: string[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i] === '(') depth++;
    else if (tokens[i] === ')' && --depth === 0) return i;
  }
  fail('unclosed left paren');
}

function parsePipeline(tokens: string[]): Pipeline {
  let rest = tokens;
  const decl: string[] = [];
  const d = rest.indexOf(':=');
  if (d > 0 && rest.slice(0, d).every((t, i) => (i % 2 === 0 ? t.startsWith('$') : t === ','))) {
    for (let i = 0; i < d; i += 2) decl.push(rest[i]);
    rest = rest.slice(d + 1);
  }
  const cmds: Arg[][] = [[]];
  const pos = { i: 0 };
  while (pos.i < rest.length) {
    if (rest[pos.i] === '|') {
      pos.i++;
      cmds.push([]);
      continue;
    }
    cmds[cmds.length - 1].push(parseArg(rest, pos));
  }
  if (cmds.some((c) => c.length === 0)) fail('missing value for command');
  return { decl, cmds };
}

/** Parse a template; throws INVALID_FORMAT with Go's message style on a syntax error. */
export function parseTemplate(text: string): Template {
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push({ text: text.slice(i) });
      break;
    }
    let before = text.slice(i, open);
    let start = open + 2;
    if (/^-\s/.test(text.slice(start))) {
      before = before.replace(/\s+$/, '');
      start++;
    }
    const close = text.indexOf('}}', start);
    if (close < 0) fail('unclosed action');
    let inner = text.slice(start, close);
    let after = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const m = /^\s*/.exec(text.slice(after));
      after += m ? m[0].length : 0;
    }
    parts.push({ text: before }, { action: inner.trim() });
    i = after;
  }
  const pos = { i: 0 };
  const body = parseList(parts, pos, false);
  if (pos.i < parts.length) fail(`unexpected {{${(parts[pos.i] as { action: string }).action}}}`);
  return new Template(body.nodes);
}

function parseList(
  parts: ({ text: string } | { action: string })[],
  pos: { i: number },
  nested: boolean,
): { nodes: Node[]; end?: string } {
  const nodes: Node[] = [];
  while (pos.i < parts.length) {
    const p = parts[pos.i++];
    if ('text' in p) {
      if (p.text) nodes.push({ k: 'text', text: p.text });
      continue;
    }
    const a = p.action;
    if (a.startsWith('/*')) continue;
    const [word] = a.split(/\s+/, 1);
    if (word === 'end' || word === 'else') {
      if (!nested) fail(`unexpected {{${word}}}`);
      return { nodes, end: a };
    }
    if (word === 'if' || word === 'with' || word === 'range')
      nodes.push(parseBlock(word, a.slice(word.length), parts, pos));
    else if (['define', 'template', 'block', 'break', 'continue'].includes(word))
      fail(`{{${word}}} is not supported`);
    else nodes.push({ k: 'action', pipe: parsePipeline(tokenize(a)) });
  }
  if (nested) fail('unexpected EOF');
  return { nodes };
}

function parseBlock(
  kind: 'if' | 'with' | 'range',
  rest: string,
  parts: ({ text: string } | { action: string })[],
  pos: { i: number },
): Node {
  const pipe = parsePipeline(tokenize(rest));
  if (pipe.cmds[0].length === 0) fail(`missing value for ${kind}`);
  const body = parseList(parts, pos, true);
  let alt: Node[] = [];
  if (body.end?.startsWith('else')) {
    const elseRest = body.end.slice(4).trim();
    if (elseRest.startsWith('if ') || elseRest.startsWith('with ')) {
      const w = elseRest.startsWith('if ') ? 'if' : 'with';
      // `{{else if x}}` is an if nested in the else branch, sharing the one {{end}}.
      alt = [parseBlock(w, elseRest.slice(w.length), parts, pos)];
    } else {
      const tail = parseList(parts, pos, true);
      if (tail.end !== 'end') fail('expected end; found else');
      alt = tail.nodes;
    }
  } else if (body.end !== 'end') fail(`unexpected ${body.end}`);
  return { k: kind, pipe, body: body.nodes, alt };
}

// ---- execution ----------------------------------------------------------------------------

export class Template {
  private readonly nodes: Node[];

  constructor(nodes: Node[]) {
    this.nodes = nodes;
  }

  /**
   * Run the template on `data`; `funcs` replace or add functions (docker's header functions).
   * `missingKeyError` makes every missing field an error (docker inspect's `missingkey=error`).
   */
  execute(data: Value, funcs: Record<string, TemplateFunc> = {}, missingKeyError = false): string {
    const scope = new Scope({ ...FUNCS, ...funcs }, data, missingKeyError);
    return scope.list(this.nodes, data);
  }
}

class Scope {
  private readonly funcs: Record<string, TemplateFunc>;
  private vars: [string, Value][];
  private readonly strict: boolean;

  constructor(funcs: Record<string, TemplateFunc>, root: Value, strict: boolean) {
    this.funcs = funcs;
    this.vars = [['$', root]];
    this.strict = strict;
  }

  list(nodes: Node[], dot: Value): string {
    const mark = this.vars.length;
    let out = '';
    for (const n of nodes) out += this.node(n, dot);
    this.vars.length = mark;
    return out;
  }

  private node(n: Node, dot: Value): string {
    if (n.k === 'text') return n.text;
    if (n.k === 'action') {
      const v = this.pipeline(n.pipe, dot);
      return n.pipe.decl.length ? '' : printValue(v);
    }
    const mark = this.vars.length;
    try {
      if (n.k === 'range') return this.range(n, dot);
      const v = this.pipeline(n.pipe, dot);
      if (!truthy(v)) return this.list(n.alt, dot);
      return this.list(n.body, n.k === 'with' ? v : dot);
    } finally {
      this.vars.length = mark;
    }
  }

  private range(n: Block, dot: Value): string {
    const decl = n.pipe.decl;
    const v = this.pipeline({ decl: [], cmds: n.pipe.cmds }, dot);
    const entries: [Value, Value][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : v && typeof v === 'object'
        ? Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, Value>)[k]])
        : typeof v === 'number'
          ? Array.from({ length: v }, (_, i) => [i, i])
          : [];
    if (entries.length === 0) return this.list(n.alt, dot);
    let out = '';
    for (const [key, elem] of entries) {
      const mark = this.vars.length;
      if (decl.length === 1) this.vars.push([decl[0], elem]);
      else if (decl.length === 2) this.vars.push([decl[0], key], [decl[1], elem]);
      out += this.list(n.body, elem);
      this.vars.length = mark;
    }
    return out;
  }

  private pipeline(p: Pipeline, dot: Value): Value {
    let v: Value;
    let first = true;
    for (const cmd of p.cmds) {
      v = this.command(cmd, dot, first ? [] : [v]);
      first = false;
    }
    for (const name of p.decl) this.vars.push([name, v]);
    return v;
  }

  private command(cmd: Arg[], dot: Value, piped: Value[]): Value {
    const [head, ...rest] = cmd;
    if (head.k === 'ident') {
      const fn = this.funcs[head.name];
      if (!fn) fail(`function "${head.name}" not defined`);
      return fn(...rest.map((a) => this.arg(a, dot)), ...piped);
    }
    if (rest.length || piped.length) fail(`can't give argument to non-function ${describe(head)}`);
    return this.arg(head, dot);
  }

  private arg(a: Arg, dot: Value): Value {
    switch (a.k) {
      case 'lit':
        return a.value;
      case 'ident': {
        const fn = this.funcs[a.name];
        if (!fn) fail(`function "${a.name}" not defined`);
        return fn();
      }
      case 'field':
        return fields(dot, a.names, this.strict);
      case 'var': {
        const found = [...this.vars].reverse().find(([n]) => n === a.name);
        if (!found) fail(`undefined variable: ${a.name}`);
        return fields(found[1], a.names, this.strict);
      }
      case 'pipe':
        return fields(this.pipeline(a.pipe, dot), a.names, this.strict);
    }
  }
}

function describe(a: Arg): string {
  if (a.k === 'field') return `.${a.names.join('.')}`;
  if (a.k === 'var') return a.name;
  return JSON.stringify(a.k === 'lit' ? a.value : '');
}

function fields(base: Value, names: string[], strict: boolean): Value {
  let v = base;
  for (const name of names) {
    if (v === null || v === undefined) {
      throw new KilnError('FORMAT_FAILED', `template: nil pointer evaluating .${name}`, {
        hint: 'check the field names against `--format "{{json .}}"`',
      });
    }
    if (typeof v !== 'object') {
      throw new KilnError('FORMAT_FAILED', `template: can't evaluate field ${name} in type ${typeof v}`, {
        hint: 'check the field names against `--format "{{json .}}"`',
      });
    }
    const obj = v as Record<string | symbol, Value>;
    if (!(name in obj) && (strict || obj[STRICT])) {
      throw new KilnError('FORMAT_FAILED', `template: no field or key "${name}"`, {
        hint: 'check the field names against `--format "{{json .}}"`',
      });
    }
    v = obj[name];
    if (typeof v === 'function') v = (v as () => Value).call(obj);
  }
  return v;
}

function truthy(v: Value): boolean {
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
  const strict = Boolean(v && typeof v === 'object' && (v as Record<symbol, unknown>)[STRICT]);
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
  if (typeof a !== typeof b) fail(`incompatible types for comparison`);
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

const FUNCS: Record<string, TemplateFunc> = {
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
