/**
 * `kiln image prune`: remove unnamed images (`-a`: every image, as none is used by a container),
 * filtered by `until=` and `label=`/`label!=`, printing docker's "Deleted Images:" list and the
 * space the store gave back. Asks first unless `-f`, reading the answer from stdin as docker does.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { type PruneFilters, pruneImages } from '../../store/remove.ts';
import { humanSize } from '../format/units.ts';
import { collect, withStore } from './images.ts';

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** docker's `until=`: a Go duration ("24h", "1h30m") before now, a Unix time, or an RFC 3339 date. */
export function parseUntil(value: string, now = Date.now()): number {
  // µs (U+00B5) and μs (U+03BC), both Go's, as escapes: the bundle stays ASCII (scripts/bundle.ts).
  if (/^(\d+(\.\d+)?(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g))
      ms += Number(m[1]) * UNITS[m[2]];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new KilnError('INVALID_FILTER', `invalid filter 'until=${value}'`, {
      hint: 'use a duration such as 24h or 90m, a Unix time, or a date such as 2024-01-02T15:04:05Z',
    });
  }
  return t;
}

export function parsePruneFilters(list: string[]): PruneFilters {
  const f: PruneFilters = { labels: [], notLabels: [] };
  for (const item of list) {
    const m = /^(until|label!?)=(.*)$/.exec(item);
    if (!m) {
      throw new KilnError('INVALID_FILTER', `invalid filter '${item}'`, {
        hint: 'use until=DURATION, label=KEY[=VALUE] or label!=KEY[=VALUE]',
      });
    }
    if (m[1] === 'until') f.until = parseUntil(m[2]);
    else (m[1] === 'label' ? f.labels : f.notLabels)?.push(m[2]);
  }
  return f;
}

async function confirm(warning: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
  process.stdout.write(`${warning} [y/N] `);
  try {
    for await (const line of rl) return /^y(es)?$/i.test(line.trim());
    return false;
  } finally {
    rl.close();
  }
}

export function configurePrune(cmd: Command): Command {
  return cmd
    .description('Remove unused images')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option(
      '--filter <filter>',
      'until=DURATION, label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)',
      collect,
      [],
    )
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts, c: Command) => {
      const filters = parsePruneFilters(opts.filter as string[]);
      if (!opts.force) {
        const warning = opts.all
          ? 'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?'
          : 'WARNING! This will remove all dangling images.\nAre you sure you want to continue?';
        if (!(await confirm(warning))) return;
      }
      const res = await withStore(c, (store) => pruneImages(store, { all: Boolean(opts.all), filters }));
      if (res.items.length) {
        let out = 'Deleted Images:\n';
        for (const i of res.items)
          out += 'untagged' in i ? `untagged: ${i.untagged}\n` : `deleted: ${i.deleted}\n`;
        process.stdout.write(`${out}\n`);
      }
      process.stdout.write(`Total reclaimed space: ${humanSize(res.reclaimedBytes)}\n`);
    });
}
