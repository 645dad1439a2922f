/**
 * A subset of Go's text/template, the language of docker's `--format`: text and `{{ }}` actions
 * with trim markers, fields and nested fields, `$` variables, pipelines (`|`), parentheses, and
 * `if`/`else if`/`range`/`with`/`else`/`end`; the functions and Go's value printing are in
 * funcs.ts.
 */
import { KilnError } from '../../errors/errors.ts';
import { FUNCS, isStrict, printValue, type TemplateFunc, truthy } from './funcs.ts';

export { strictContext, type TemplateFunc } from './funcs.ts';

type Value = unknown;

type Arg =
  | { k: 'field'; names: string[] }
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
    if (!(name in obj) && (strict || isStrict(obj))) {
      throw new KilnError('FORMAT_FAILED', `template: no field or key "${name}"`, {
        hint: 'check the field names against `--format "{{json .}}"`',
      });
    }
    v = obj[name];
    if (typeof v === 'function') v = (v as () => Value).call(obj);
  }
  return v;
}
