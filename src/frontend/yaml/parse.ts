/**
 * Reading a kiln YAML file: YAML 1.2 (the `yaml` package, which keeps every node's offset),
 * one document, no duplicate keys, at most 100 alias expansions (a "billion laughs" file is
 * refused, not expanded), checked against the schema. Every error, and every step compiled
 * from the file, points at file:line:column.
 */
import { isNode, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { KilnError, type SourceLocation } from '../../errors/errors.ts';
import { check, SchemaError } from '../../graph/schema.ts';
import { KILN_YAML_SCHEMA, type KilnYaml } from './schema.ts';

export type YamlPath = readonly (string | number)[];

export interface ParsedYaml {
  spec: KilnYaml;
  /** Where the node at `path` starts (the nearest existing parent when it is absent). */
  locate(path: YamlPath): SourceLocation;
}

const MAX_ALIASES = 100;

/** `$.images[0].copy[1]["a.b"]` → ['images', 0, 'copy', 1, 'a.b'] */
function pathOf(schemaPath: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of schemaPath.matchAll(/\.([^.[]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

export function parseKilnYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  // logLevel silent: the library would otherwise print its warnings on the process's stderr.
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false,
    logLevel: 'silent',
  });
  const at = (offset: number): SourceLocation => {
    const p = lines.linePos(offset);
    return { file, startLine: p.line, endLine: p.line, column: p.col };
  };
  const fail = (message: string, location: SourceLocation, hint?: string): KilnError =>
    new KilnError('YAML_INVALID', `${message}`, {
      location,
      hint: hint ?? 'see docs/yaml.md and docs/kiln-yaml.schema.json',
    });
  const first = doc.errors[0];
  if (first) {
    throw fail(first.message.split('\n')[0], at(first.pos[0]), 'the file is not valid YAML');
  }
  // A key that is a list or a map would become its text ("{ a: 1 }") as a JavaScript key.
  visit(doc, {
    Pair(_, pair) {
      if (pair.key !== null && !isScalar(pair.key)) {
        const node = pair.key as { range?: [number, number, number] };
        throw fail('a key must be a plain value, not a list or a map', at(node.range?.[0] ?? 0));
      }
    },
  });
  const locate = (path: YamlPath): SourceLocation => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return at(node.range[0]);
    }
    return at(0);
  };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw fail(`cannot read the file: ${(err as Error).message}`, at(0));
  }
  try {
    check(KILN_YAML_SCHEMA, value);
  } catch (err) {
    if (!(err instanceof SchemaError)) throw err;
    const path = pathOf(err.path);
    const where = path.length ? path.join('.') : 'the document';
    throw fail(`${where}: ${err.message.slice(err.path.length + 2)}`, locate(path));
  }
  return { spec: value as KilnYaml, locate };
}
