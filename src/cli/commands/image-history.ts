/**
 * `kiln image history`: docker's table (IMAGE CREATED CREATED BY SIZE COMMENT, the image ID on
 * the top row and `<missing>` below), `-q`, `--no-trunc`, `-H=false` and `--format`.
 */
import type { Command } from 'commander';
import { type HistoryRow, imageHistory } from '../../imagestore/history.ts';
import { parsePlatform } from '../../oci/platform.ts';
import { formatRows } from '../format/format.ts';
import { strictContext } from '../format/template.ts';
import { ellipsis, epochSeconds, humanSize, rfc3339, timeSince, truncateId } from '../format/units.ts';
import { withStore } from './images.ts';

export const HISTORY_TITLES = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

/** Created times at or before 2000-01-01 are not shown in human units (docker prints N/A). */
const EPOCH = Date.UTC(2000, 0, 1) / 1000;

/** docker's NewHistoryFormat. */
export function historyFormat(format: string, quiet: boolean, human: boolean): string {
  if (format !== 'table') return format;
  if (quiet) return '{{.ID}}';
  return human
    ? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
    : 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
}

/** docker's historyContext for one row. */
export function historyRow(r: HistoryRow, o: { trunc: boolean; human: boolean; now: number }) {
  const id = r.id ?? '<missing>';
  const secs = epochSeconds(r.created);
  const createdAt = rfc3339(secs);
  const by = r.createdBy.replaceAll('\t', ' ');
  return strictContext({
    Comment: r.comment,
    CreatedAt: createdAt,
    CreatedBy: o.trunc ? ellipsis(by, 45) : by,
    CreatedSince: !o.human ? createdAt : secs <= EPOCH ? 'N/A' : (timeSince(r.created, o.now) ?? 'N/A'),
    ID: o.trunc ? truncateId(id) : id,
    Size: o.human ? humanSize(r.size, 3) : String(r.size),
  });
}

export function configureHistory(cmd: Command): Command {
  return cmd
    .description('Show the history of an image')
    .argument('<image>', 'image name or ID')
    .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template", 'table')
    .option('-H, --human [bool]', 'print sizes and dates in human readable format (default true)')
    .option('--no-trunc', "don't truncate output")
    .option('--platform <platform>', 'which manifest of a multi-platform image to show')
    .option('-q, --quiet', 'only show image IDs')
    .action(async (name: string, opts, c: Command) => {
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      const rows = await withStore(c, (store) => imageHistory(store, name, platform));
      const human =
        opts.human === undefined || opts.human === true || !/^=?(false|0)$/i.test(String(opts.human));
      const format = historyFormat(opts.format as string, Boolean(opts.quiet), human);
      const o = { trunc: opts.trunc !== false, human, now: Date.now() };
      process.stdout.write(
        formatRows(
          format,
          rows.map((r) => historyRow(r, o)),
          HISTORY_TITLES,
        ),
      );
    });
}
