/**
 * The layer rule, checked on the code: every import under src/ (static, re-export, dynamic and
 * type-only alike) goes to the importer's own layer or below, folders of one layer import each
 * other without cycles, only tests import the test rig, and ARCHITECTURE.md's table says the same
 * as layers.ts. A new folder fails here until it has a layer.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { LAYERS, type Layer, TOP_FILES } from './layers.ts';

const repo = resolve(import.meta.dirname, '../..');
const src = join(repo, 'src');

interface Import {
  from: string;
  to: string;
  line: number;
}

/** A static `import … from` / `export … from` / bare `import '…'` at the start of a line (biome formats every one so). */
const STATIC = /^(?:import|export)\b[^;]*?\bfrom\s*(['"])([^'"]+)\1|^import\s*(['"])([^'"]+)\3/gm;
/** `import(` anywhere in code: as a call or a type (`import('node:stream/web').ReadableStream`). */
const DYNAMIC = /\bimport\s*\(\s*(?:(['"])([^'"]+)\1)?/g;

/** The source with comments blanked (kept the same length, so offsets still give line numbers). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|(?<![:'"`\\])\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Every relative import of one file, as paths relative to src/; a dynamic import of a computed name fails. */
export function importsOf(file: string, text: string): Import[] {
  const code = withoutComments(text);
  const out: Import[] = [];
  const add = (spec: string, offset: number) => {
    if (!spec.startsWith('.')) return; // node: built-ins and packages have no layer
    out.push({
      from: file,
      to: relative(src, resolve(dirname(join(src, file)), spec)),
      line: lineOf(code, offset),
    });
  };
  for (const m of code.matchAll(STATIC)) add(m[2] ?? m[4], m.index);
  for (const m of code.matchAll(DYNAMIC)) {
    if (m[2] === undefined) {
      assert.fail(
        `${file}:${lineOf(code, m.index)}: import() of a computed name; the layer rule cannot see where it goes`,
      );
    }
    add(m[2], m.index);
  }
  return out;
}

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield relative(src, p);
  }
}

/** The table entry a file under src/ belongs to: its deepest listed folder, or itself at the top. */
function unitOf(file: string): { unit: string; layer: Layer } | undefined {
  if (!file.includes('/')) return file in TOP_FILES ? { unit: file, layer: TOP_FILES[file] } : undefined;
  let best: string | undefined;
  for (const folder of Object.keys(LAYERS)) {
    if (file.startsWith(folder) && (best === undefined || folder.length > best.length)) best = folder;
  }
  return best === undefined ? undefined : { unit: best, layer: LAYERS[best] };
}

const isTest = (file: string) => file.endsWith('.test.ts') || file.includes('/testdata/');

function allImports(): Import[] {
  const out: Import[] = [];
  for (const file of sources(src)) out.push(...importsOf(file, readFileSync(join(src, file), 'utf8')));
  return out;
}

/** Cycles among units of one layer (Tarjan's strongly connected components of size > 1). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop(); ; w = stack.pop()) {
        scc.push(w!);
        if (w === v) break;
      }
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** ARCHITECTURE.md's "Layers and modules" table as path → layer (paths outside src/ left out). */
function documentedLayers(): Map<string, Layer> {
  const md = readFileSync(join(repo, 'ARCHITECTURE.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith('Layers and modules'));
  assert.ok(section, 'ARCHITECTURE.md has a "Layers and modules" section');
  const out = new Map<string, Layer>();
  for (const row of section.split('\n')) {
    const cells = row.split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^(L\d|—)$/.test(cells[1])) continue;
    const layer: Layer = cells[1] === '—' ? 'test' : (Number(cells[1].slice(1)) as Layer);
    for (const [, path] of cells[2].matchAll(/`([^`]+)`/g)) {
      if (path.startsWith('test/') || path.startsWith('bench/')) continue;
      assert.ok(!out.has(path), `ARCHITECTURE.md lists ${path} twice`);
      out.set(path, layer);
    }
  }
  return out;
}

const rank = (l: Layer) => (l === 'test' ? 99 : l);

describe('the layer rule', () => {
  const imports = allImports();

  test('every file under src/ belongs to a folder with a layer', () => {
    const orphans = [...sources(src)].filter((f) => unitOf(f) === undefined);
    assert.deepEqual(orphans, [], 'add their folders to test/architecture/layers.ts and ARCHITECTURE.md');
  });

  test('every folder in the table exists', () => {
    const missing = Object.keys(LAYERS).filter(
      (f) => !existsSync(join(src, f)) || !statSync(join(src, f)).isDirectory(),
    );
    assert.deepEqual(missing, []);
  });

  test('no module imports from a layer above its own', () => {
    const bad: string[] = [];
    for (const i of imports) {
      if (isTest(i.from)) continue;
      const a = unitOf(i.from);
      const b = unitOf(i.to);
      if (!a || !b) continue; // reported by the test above
      if (rank(b.layer) > rank(a.layer))
        bad.push(`${i.from}:${i.line} (L${a.layer}) → ${i.to} (L${b.layer})`);
    }
    assert.deepEqual(bad, []);
  });

  test('only tests and the test rig import the test rig', () => {
    const bad = imports
      .filter((i) => !isTest(i.from) && unitOf(i.to)?.layer === 'test' && unitOf(i.from)?.layer !== 'test')
      .map((i) => `${i.from}:${i.line} → ${i.to}`);
    assert.deepEqual(bad, []);
  });

  test('folders of one layer import each other without cycles', () => {
    const edges = new Map<string, Set<string>>();
    const why = new Map<string, string>();
    for (const i of imports) {
      if (isTest(i.from)) continue;
      const a = unitOf(i.from);
      const b = unitOf(i.to);
      if (!a || !b || a.unit === b.unit || a.layer !== b.layer) continue;
      if (!edges.has(a.unit)) edges.set(a.unit, new Set());
      edges.get(a.unit)!.add(b.unit);
      why.set(`${a.unit}>${b.unit}`, `${i.from}:${i.line} → ${i.to}`);
    }
    const found = cycles(edges).map((scc) =>
      [...why]
        .filter(([k]) => scc.includes(k.split('>')[0]) && scc.includes(k.split('>')[1]))
        .map(([, v]) => v),
    );
    assert.deepEqual(found, []);
  });

  test("ARCHITECTURE.md's table lists the same folders at the same layers", () => {
    const declared = new Map<string, Layer>([...Object.entries(LAYERS), ...Object.entries(TOP_FILES)]);
    assert.deepEqual(
      [...documentedLayers()].sort(([a], [b]) => a.localeCompare(b)),
      [...declared].sort(([a], [b]) => a.localeCompare(b)),
    );
  });
});

describe('the import reader', () => {
  test('sees static, re-exported, type-only and dynamic imports, and skips comments', () => {
    const text = [
      "import { a } from '../errors/errors.ts';",
      "import type {\n  B,\n} from './b.ts';",
      "export { c } from '../oci/platform.ts';",
      "export * from './d.ts';",
      "import './e.ts';",
      "const f = await import('../archive/layer.ts');",
      "type G = import('../graph/ops.ts').Op;",
      "// import('../cli/main.ts')",
      "/* import x from '../pipeline/build.ts'; */",
      "import { h } from 'node:fs';",
    ].join('\n');
    assert.deepEqual(
      importsOf('image/x.ts', text).map((i) => `${i.to}:${i.line}`),
      [
        'errors/errors.ts:1',
        'image/b.ts:2',
        'oci/platform.ts:5',
        'image/d.ts:6',
        'image/e.ts:7',
        'archive/layer.ts:8',
        'graph/ops.ts:9',
      ],
    );
  });

  test('refuses an import() of a computed name', () => {
    assert.throws(() => importsOf('image/x.ts', 'const m = await import(name);'), /computed name/);
  });
});
