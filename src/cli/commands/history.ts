/**
 * `kiln history` (recent builds: id, when, context, target, duration, result, cache ratio) and
 * `kiln history inspect ID` (one build's steps with their cache hits and misses and why), as
 * `docker buildx history ls/inspect`; `kiln report ID` writes a past build's report.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { MAX_BUILDS, openHistory } from '../../explain/records.ts';
import { loadBuild } from '../../explain/report.ts';
import type { BuildRecord } from '../../explain/session.ts';
import { writeToDest } from '../../exporter/dest.ts';
import { resolveRoot } from '../../store/root.ts';
import { isoTime } from '../../sys/time.ts';
import { humanDuration, timeSince } from '../format/units.ts';
import { commandSignal } from '../signals.ts';

function rootOf(cmd: Command): string {
  return resolveRoot(cmd.optsWithGlobals().root as string | undefined);
}

const ratio = (b: BuildRecord) =>
  b.hits + b.misses
    ? `${Math.round((100 * b.hits) / (b.hits + b.misses))}% (${b.hits}/${b.hits + b.misses})`
    : '-';
const duration = (b: BuildRecord) => (b.finished ? `${((b.finished - b.started) / 1000).toFixed(1)}s` : '-');

/** Rows padded into columns (build data is shown as text with control characters replaced). */
function table(rows: string[][]): string {
  const clean = rows.map((r) => r.map((c) => c.replace(/[\x00-\x1f\x7f-\x9f]/g, '?')));
  const widths = clean[0].map((_, i) => Math.max(...clean.map((r) => r[i].length)));
  return clean
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function listBuilds(root: string): BuildRecord[] {
  const db = openHistory(join(root, 'history.db'));
  try {
    // A record this version cannot read (another version's, a damaged one) is left out.
    return db
      .builds<BuildRecord>(MAX_BUILDS)
      .filter((b) => typeof b?.id === 'string' && typeof b.context === 'string' && Array.isArray(b.steps));
  } finally {
    db.close();
  }
}

/** The table `kiln history` (and `history ls`) prints, or its JSON. */
function printList(o: { format: string; trunc: boolean }, cmd: Command): void {
  checkFormat(o.format, ['table', 'json']);
  const builds = listBuilds(rootOf(cmd));
  if (o.format === 'json') {
    process.stdout.write(
      `${JSON.stringify(
        builds.map(({ steps: _s, ...b }) => b),
        null,
        2,
      )}\n`,
    );
    return;
  }
  const now = Date.now();
  const rows = [['BUILD ID', 'CREATED', 'CONTEXT', 'TARGET', 'DURATION', 'RESULT', 'CACHED']];
  for (const b of builds)
    rows.push([
      o.trunc ? b.id.slice(0, 12) : b.id,
      timeSince(isoTime(b.started), now) ?? '-',
      o.trunc && b.context.length > 40 ? `…${b.context.slice(-39)}` : b.context,
      b.target ?? '-',
      duration(b),
      b.result,
      ratio(b),
    ]);
  process.stdout.write(`${table(rows)}\n`);
}

function checkFormat(format: string, allowed: string[]): void {
  if (!allowed.includes(format))
    throw new KilnError('INVALID_FLAG', `unknown --format "${format}"`, {
      hint: `use ${allowed.join(' or ')}`,
    });
}

export function register(program: Command): void {
  const history = program
    .command('history')
    .description(`List recent builds (the last ${MAX_BUILDS} are kept), as docker buildx history ls`)
    .option('--format <format>', 'table or json', 'table')
    .option('--no-trunc', "don't truncate ids and paths")
    .action(printList);
  history
    .command('ls')
    .description('List recent builds (as kiln history)')
    .option('--format <format>', 'table or json', 'table')
    .option('--no-trunc', "don't truncate ids and paths")
    .action(printList);
  history
    .command('inspect')
    .description("Show one build: what it built, and each step's cache hit or miss and why")
    .argument('<id>', 'build id or a unique prefix of it')
    .option('--format <format>', 'pretty or json', 'pretty')
    .action((id: string, o: { format: string }, cmd: Command) => {
      checkFormat(o.format, ['pretty', 'json']);
      const b = loadBuild(rootOf(cmd), id);
      if (o.format === 'json') {
        process.stdout.write(`${JSON.stringify(b, null, 2)}\n`);
        return;
      }
      const lines = [
        `Build ID:   ${b.id}`,
        `Created:    ${isoTime(b.started)}`,
        `Context:    ${b.context}`,
        `Dockerfile: ${b.dockerfile}`,
        `Target:     ${b.target ?? '(last stage)'}`,
        `Platforms:  ${b.platforms.join(', ') || '(host)'}`,
        `Duration:   ${duration(b)}`,
        `Result:     ${b.result}${b.error ? `: ${b.error}` : ''}`,
        `Image:      ${b.image?.digest ?? '-'}`,
        `Cached:     ${ratio(b)}`,
        '',
        'STEPS:',
      ];
      for (const s of b.steps) {
        const ms = s.started !== undefined && s.completed !== undefined ? s.completed - s.started : undefined;
        const state = s.error ? 'ERROR' : s.cached ? 'CACHED' : ms !== undefined ? humanDuration(ms) : '-';
        lines.push(`  ${s.name.replace(/[\x00-\x1f\x7f-\x9f]/g, '?')}   ${state}`);
        if (s.reason) lines.push(`      cache miss: ${s.reason}`);
        else if (s.origin)
          lines.push(`      cache hit: from build ${s.origin.build.slice(0, 12)} (${isoTime(s.origin.at)})`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  program
    .command('report')
    .description('Write the report of a past build (see kiln history): one HTML page, or JSON')
    .argument('<id>', 'build id or a unique prefix of it')
    .option('-o, --output <file>', 'FILE.html or FILE.json (default: HTML on stdout)', '-')
    .option('--format <format>', 'html or json (default: by the file name)')
    .action(async (id: string, o: { output: string; format?: string }, cmd: Command) => {
      const { renderReport } = await import('../../explain/report.ts');
      const { openStore } = await import('../../store/store.ts');
      const store = openStore(rootOf(cmd));
      try {
        const format = (o.format ?? (o.output.endsWith('.json') ? 'json' : 'html')) as 'json' | 'html';
        checkFormat(format, ['html', 'json']);
        const text = await renderReport(store, id, format);
        await writeToDest(o.output, text, {
          stdout: process.stdout,
          signal: commandSignal(),
          what: 'the build report',
          hint: 'pass the path of a file to create or replace',
        });
      } finally {
        store.close();
      }
    });
}
