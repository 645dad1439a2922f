/**
 * `kiln builder du`: `docker buildx du` — a row per build-cache record (ID, RECLAIMABLE, SIZE,
 * LAST ACCESSED; `*` marks a writable record), then Reclaimable and Total; `--verbose` for
 * buildx's pretty form, `--format` for a template or json.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { BuildCache } from '../../cache/build-cache.ts';
import { buildCacheUsage, type CacheRecord } from '../../cache/usage.ts';
import { formatRows, isTable } from '../format/format.ts';
import { tabwrite } from '../format/tabwriter.ts';
import { strictContext } from '../format/template.ts';
import { goTimeString, humanSize, timeSince } from '../format/units.ts';
import { withStore } from './images.ts';

const TABLE = 'table {{.ID}}\t{{.Reclaimable}}\t{{.Size}}\t{{.LastUsedAt}}';
const PRETTY = `ID:           {{.ID}}
{{- if .Parents }}
Parents:
{{- range .Parents }}
 - {{.}}
{{- end }}
{{- end }}
Created at:   {{.CreatedAt}}
Mutable:      {{.Mutable}}
Reclaimable:  {{.Reclaimable}}
Shared:       {{.Shared}}
Size:         {{.Size}}
{{- if .Description}}
Description:  {{ .Description }}
{{- end }}
Usage count:  {{.UsageCount}}
{{- if .LastUsedAt}}
Last used:    {{ .LastUsedAt }}
{{- end }}
{{- if .Type}}
Type:         {{ .Type }}
{{- end }}
`;
const TITLES = {
  ID: 'ID',
  Parents: 'PARENTS',
  CreatedAt: 'CREATED AT',
  Mutable: 'MUTABLE',
  Reclaimable: 'RECLAIMABLE',
  Shared: 'SHARED',
  Size: 'SIZE',
  Description: 'DESCRIPTION',
  UsageCount: 'USAGE COUNT',
  LastUsedAt: 'LAST ACCESSED',
  Type: 'TYPE',
};

/** buildx's diskusageContext for one record. */
function duRow(r: CacheRecord, table: boolean, now: number) {
  return strictContext({
    CreatedAt: r.createdAt ? goTimeString(Date.parse(r.createdAt) / 1000) : '',
    Description: r.description,
    ID: table && r.mutable ? `${r.id}*` : r.id,
    LastUsedAt: timeSince(r.lastUsedAt, now) ?? '',
    Mutable: r.mutable,
    Parents: r.parents,
    Reclaimable: r.reclaimable,
    Shared: r.shared,
    Size: `${humanSize(r.size)}${table && r.shared ? '*' : ''}`,
    Type: r.type,
    UsageCount: r.usageCount,
  });
}

export function configureBuilderDu(cmd: Command): Command {
  return cmd
    .description('Disk usage of the build cache (as docker buildx du)')
    .option('--format <format>', "'table', 'pretty', 'json' or a Go template")
    .option('--verbose', 'shorthand for --format=pretty')
    .action(async (opts: { format?: string; verbose?: boolean }, c: Command) => {
      const usage = await withStore(c, async (store) => {
        const cache = new BuildCache(join(store.root, 'buildcache.db'));
        try {
          return await buildCacheUsage(store.root, cache);
        } finally {
          cache.close();
        }
      });
      let format = opts.format ?? (opts.verbose ? PRETTY : TABLE);
      if (format === 'pretty') format = PRETTY;
      if (format === 'table') format = TABLE;
      const now = Date.now();
      const rows = usage.records.map((r) => duRow(r, isTable(format), now));
      // The pretty form is one block per record; formatRows adds the newline between them.
      process.stdout.write(formatRows(format, rows, TITLES));
      if (format !== TABLE && format !== PRETTY) return;
      const shared = usage.records.filter((r) => r.shared).reduce((n, r) => n + r.size, 0);
      let summary = '';
      if (shared > 0)
        summary += `Shared:\t${humanSize(shared)}\nPrivate:\t${humanSize(usage.total - shared)}\n`;
      summary += `Reclaimable:\t${humanSize(usage.reclaimable)}\nTotal:\t${humanSize(usage.total)}\n`;
      process.stdout.write(tabwrite(summary, { minwidth: 1, tabwidth: 8, padding: 1, padchar: '\t' }));
    });
}
