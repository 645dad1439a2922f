/**
 * What `docker build --check` prints (buildx's printResult for the lint subrequest and
 * BuildKit's LintResults.PrintTo): a count line, then each finding by line — `WARNING: Rule -
 * URL`, its message and the Dockerfile lines around it (BuildKit's errdefs.Source.Print) — or
 * `Check complete, no warnings found.`.
 */
import type { SourceLocation } from '../errors/errors.ts';

export interface CheckFinding {
  rule: string;
  message: string;
  url?: string;
  location?: SourceLocation;
}

/**
 * BuildKit's errdefs.Source.Print: `file:line`, a rule of dashes, the lines with `>>>` on those
 * the finding covers and context around them (two lines each side for one line, one for more),
 * and the rule again.
 */
export function printSource(filename: string, data: string, startLine: number, endLine: number): string {
  const lines = data.split('\n');
  let start = startLine;
  let end = Math.min(endLine, lines.length);
  if (start > lines.length || start < 1) return '';
  const first = start;
  const pad = end === start ? 4 : 2;
  // Go's loop, step for step: each round widens both ends by one where it can.
  for (let p = 0; p < pad; p++) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
  }
  const rule = '-'.repeat(20);
  let out = `${filename}:${first}\n${rule}\n`;
  for (let i = start; i <= end; i++) {
    const mark = i >= startLine && i <= endLine ? '>>>' : '   ';
    out += ` ${String(i).padStart(3)} | ${mark} ${lines[i - 1]}\n`;
  }
  return `${out}${rule}\n`;
}

/** The findings as `docker build --check` prints them (`filename` and `data`: the Dockerfile). */
export function checkReport(
  findings: readonly CheckFinding[],
  source: { filename: string; data: string },
): string {
  if (findings.length === 0) return 'Check complete, no warnings found.\n';
  const n = findings.length;
  let out = `Check complete, ${n === 1 ? '1 warning has been found!' : `${n} warnings have been found!`}\n`;
  // BuildKit sorts findings without a location first (by rule), then by first line.
  const sorted = [...findings].sort((a, b) => {
    if (!a.location || !b.location) {
      if (!a.location && !b.location) return a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0;
      return a.location ? 1 : -1;
    }
    return a.location.startLine - b.location.startLine;
  });
  for (const f of sorted) {
    out += `\nWARNING: ${f.rule}${f.url ? ` - ${f.url}` : ''}\n${f.message}\n`;
    if (f.location)
      out += printSource(source.filename, source.data, f.location.startLine, f.location.endLine);
  }
  return out;
}
