/**
 * The error catalogue holds: docs/errors.md is what scripts/errors-doc.ts writes from it, every
 * code the code base compares an error against is declared (tsc checks the codes KilnError is
 * built with; a comparison takes any string), and no code is put together at run time.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { DOC, renderErrorsDoc } from '../../scripts/errors-doc.ts';
import { ERROR_CODES, type ErrorInfo } from '../../src/errors/codes.ts';
import { KilnError } from '../../src/errors/errors.ts';

const repo = resolve(import.meta.dirname, '../..');

/** Codes that are not kiln's although they sit where one could: a registry's wire code, a test's stand-in Error. */
const NOT_KILN = new Set(['INJECTED', 'LIMIT']);
/** Node's own codes: errno names (ENOENT, ELOOP) and ERR_* */
const isNodeCode = (code: string) =>
  /^E[A-Z0-9]+$/.test(code) || code.startsWith('ERR_') || code === 'ABORT_ERR';

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'testdata') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

function eachFile(fn: (file: string, text: string) => void): void {
  for (const top of ['src', 'test', 'scripts', 'bench']) {
    for (const file of sources(join(repo, top))) fn(relative(repo, file), readFileSync(file, 'utf8'));
  }
}

const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

test('docs/errors.md is generated from the catalogue (run node scripts/errors-doc.ts)', () => {
  assert.equal(readFileSync(DOC, 'utf8'), renderErrorsDoc());
});

test('every code an error is compared against is declared in src/errors/codes.ts', () => {
  const compared = /(?:hasCode\([^,()]+,\s*|\.code\s*[!=]==\s*|\bcode:\s*)'([A-Z][A-Z0-9_]+)'/g;
  const undeclared: string[] = [];
  eachFile((file, text) => {
    for (const m of text.matchAll(compared)) {
      const code = m[1];
      if (code in ERROR_CODES || isNodeCode(code) || NOT_KILN.has(code)) continue;
      undeclared.push(`${file}:${lineOf(text, m.index)} ${code}`);
    }
  });
  assert.deepEqual(undeclared, []);
});

test('no error code is built at run time', () => {
  const built = /new KilnError\(\s*`|super\(\s*`|\bas ErrorCode\b/g;
  const found: string[] = [];
  eachFile((file, text) => {
    for (const m of text.matchAll(built)) found.push(`${file}:${lineOf(text, m.index)}`);
  });
  assert.deepEqual(found, []);
});

test('each code has a one-line meaning, and its hint is the default', () => {
  for (const [code, info] of Object.entries(ERROR_CODES as Record<string, ErrorInfo>)) {
    assert.match(code, /^[A-Z][A-Z0-9_]+$/);
    assert.ok(info.meaning.length > 0 && !info.meaning.includes('\n'), code);
  }
  assert.equal(new KilnError('DISK_FULL', 'x').hint, ERROR_CODES.DISK_FULL.hint);
  assert.equal(new KilnError('DISK_FULL', 'x', { hint: 'mine' }).hint, 'mine');
  assert.equal(new KilnError('INVALID_FLAG', 'x').hint, undefined);
});
