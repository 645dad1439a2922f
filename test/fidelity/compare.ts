/**
 * The fidelity judge: compares two image summaries (BuildKit's, the reference, and kiln's) field
 * by field — config, history, layer count, each layer's entries and the flattened filesystem —
 * and checks a case's hand-written assertions. Timestamps and `created` never enter a summary;
 * layer digests are reported as notes, since they differ whenever mtimes do.
 */
import type { FsEntry, ImageSummary } from './image-archive.ts';

export interface Difference {
  /** Where: `config.Env`, `history[3].created_by`, `layer[2]:/etc/x.mode`, `fs:/a/b`, … */
  where: string;
  expected: unknown;
  actual: unknown;
}

export interface Comparison {
  differences: Difference[];
  /** Information that is not a failure (e.g. both layer digests when they differ). */
  notes: string[];
}

/** What a case may tell the judge to leave out, e.g. `history.created_by` for a heredoc rewrite. */
export type IgnoreKey = 'history.created_by' | 'layers' | 'history' | `config.${string}`;

/** Assertions for cases whose reference is the Dockerfile reference, not this BuildKit. */
export interface CaseAssertions {
  /** Expected flattened entries (only the given fields are checked); `null` means absent. */
  files?: Record<string, Partial<FsEntry> | null>;
  /** Expected config fields, compared exactly. */
  config?: Record<string, unknown>;
  /** Expected number of layers (base included). */
  layers?: number;
}

function eq(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

/** Key-sorted copy so that object key order never makes a difference. */
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = canon((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

function compareEntries(
  where: string,
  expected: Record<string, FsEntry>,
  actual: Record<string, FsEntry>,
  out: Difference[],
): void {
  const paths = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const p of paths) {
    const e = expected[p];
    const a = actual[p];
    if ((!e && a?.artifact) || (!a && e?.artifact)) continue;
    if (!e || !a) {
      out.push({ where: `${where}${p}`, expected: e ?? 'absent', actual: a ?? 'absent' });
      continue;
    }
    for (const k of new Set([...Object.keys(e), ...Object.keys(a)]) as Set<keyof FsEntry>) {
      if (k === 'artifact') continue;
      if (!eq(e[k], a[k])) out.push({ where: `${where}${p}.${k}`, expected: e[k], actual: a[k] });
    }
  }
}

/** Compare kiln's summary (`actual`) with the reference (`expected`). */
export function compareSummaries(
  expected: ImageSummary,
  actual: ImageSummary,
  ignore: IgnoreKey[] = [],
): Comparison {
  const differences: Difference[] = [];
  const notes: string[] = [];
  for (const k of ['architecture', 'os'] as const) {
    if (expected[k] !== actual[k]) differences.push({ where: k, expected: expected[k], actual: actual[k] });
  }
  const keys = new Set([...Object.keys(expected.config), ...Object.keys(actual.config)]);
  for (const k of [...keys].sort()) {
    if (ignore.includes(`config.${k}`)) continue;
    if (!eq(expected.config[k], actual.config[k])) {
      differences.push({ where: `config.${k}`, expected: expected.config[k], actual: actual.config[k] });
    }
  }
  if (!ignore.includes('history')) {
    if (expected.history.length !== actual.history.length) {
      differences.push({
        where: 'history.length',
        expected: expected.history.length,
        actual: actual.history.length,
      });
    }
    const n = Math.min(expected.history.length, actual.history.length);
    for (let i = 0; i < n; i++) {
      const e = expected.history[i];
      const a = actual.history[i];
      // Entry 0 is the base image's own (its import), not something the build wrote.
      if (i > 0 && !ignore.includes('history.created_by') && e.created_by !== a.created_by) {
        differences.push({ where: `history[${i}].created_by`, expected: e.created_by, actual: a.created_by });
      }
      if (e.empty_layer !== a.empty_layer) {
        differences.push({
          where: `history[${i}].empty_layer`,
          expected: e.empty_layer,
          actual: a.empty_layer,
        });
      }
    }
  }
  if (!ignore.includes('layers')) {
    if (expected.layers.length !== actual.layers.length) {
      differences.push({
        where: 'layers.length',
        expected: expected.layers.length,
        actual: actual.layers.length,
      });
    }
    const n = Math.min(expected.layers.length, actual.layers.length);
    for (let i = 0; i < n; i++) {
      const e = expected.layers[i];
      const a = actual.layers[i];
      if (e.diffId !== a.diffId)
        notes.push(`layer[${i}] diffID: reference ${e.diffId}, candidate ${a.diffId}`);
      if (e.base || a.base) {
        if (!e.base || !a.base) {
          differences.push({ where: `layer[${i}].base`, expected: e.base === true, actual: a.base === true });
        }
        continue;
      }
      compareEntries(`layer[${i}]:`, e.entries ?? {}, a.entries ?? {}, differences);
    }
  }
  compareEntries('fs:', expected.filesystem.changed, actual.filesystem.changed, differences);
  const er = new Set(expected.filesystem.removed);
  const ar = new Set(actual.filesystem.removed);
  for (const p of er)
    if (!ar.has(p)) differences.push({ where: `fs:${p}`, expected: 'removed', actual: 'present' });
  for (const p of ar)
    if (!er.has(p)) differences.push({ where: `fs:${p}`, expected: 'present', actual: 'removed' });
  return { differences, notes };
}

/** Check a summary against a case's assertions (the flattened fs includes base entries via `baseFs`). */
export function checkAssertions(
  summary: ImageSummary,
  assertions: CaseAssertions,
  baseFs: Map<string, FsEntry>,
): Difference[] {
  const out: Difference[] = [];
  const fs = new Map(baseFs);
  for (const p of summary.filesystem.removed) fs.delete(p);
  for (const [p, e] of Object.entries(summary.filesystem.changed)) fs.set(p, e);
  for (const [p, want] of Object.entries(assertions.files ?? {})) {
    const got = fs.get(p);
    if (want === null) {
      if (got) out.push({ where: `assert fs:${p}`, expected: 'absent', actual: got });
      continue;
    }
    if (!got) {
      out.push({ where: `assert fs:${p}`, expected: want, actual: 'absent' });
      continue;
    }
    for (const [k, v] of Object.entries(want)) {
      const g = got[k as keyof FsEntry];
      if (!eq(v, g)) out.push({ where: `assert fs:${p}.${k}`, expected: v, actual: g });
    }
  }
  for (const [k, v] of Object.entries(assertions.config ?? {})) {
    if (!eq(v, summary.config[k]))
      out.push({ where: `assert config.${k}`, expected: v, actual: summary.config[k] });
  }
  if (assertions.layers !== undefined && assertions.layers !== summary.layers.length) {
    out.push({ where: 'assert layers.length', expected: assertions.layers, actual: summary.layers.length });
  }
  return out;
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export interface CaseResult {
  name: string;
  verdict: 'same' | 'differs' | 'error' | 'reference-only';
  differences: Difference[];
  notes: string[];
  error?: string;
}

/** Render results as a text table: case, verdict, then up to `maxDiffs` differences per case. */
export function formatTable(results: CaseResult[], maxDiffs = 8): string {
  const w = Math.max(4, ...results.map((r) => r.name.length));
  const lines = [`${'case'.padEnd(w)}  ${'verdict'.padEnd(14)}  differences`];
  lines.push(`${'-'.repeat(w)}  ${'-'.repeat(14)}  ${'-'.repeat(40)}`);
  for (const r of results) {
    const first = r.error ?? (r.differences.length === 0 ? '' : `${r.differences.length} difference(s)`);
    lines.push(`${r.name.padEnd(w)}  ${r.verdict.padEnd(14)}  ${first}`);
    for (const d of r.differences.slice(0, maxDiffs)) {
      lines.push(`${' '.repeat(w + 18)}${d.where}: expected ${short(d.expected)}, got ${short(d.actual)}`);
    }
    if (r.differences.length > maxDiffs)
      lines.push(`${' '.repeat(w + 18)}… ${r.differences.length - maxDiffs} more`);
  }
  return lines.join('\n');
}
