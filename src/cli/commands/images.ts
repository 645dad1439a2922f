/**
 * `kiln images` (also `kiln image ls`): REPOSITORY TAG IMAGE ID CREATED SIZE, or JSON. Also the
 * small presentation helpers the other image commands share (sizes, ages, tables, opening the store).
 */
import type { Command } from 'commander';
import { digestHex } from '../../digest/digest.ts';
import { KilnError } from '../../errors/errors.ts';
import { listImages } from '../../imagestore/query.ts';
import { sweepLeftovers } from '../../store/leftovers.ts';
import { openStore, type Store } from '../../store/store.ts';

/**
 * Open the store the global --root (or KILN_ROOT) names, run `fn`, close it. Opening first
 * removes what killed kiln processes left (a mounted secrets tmpfs above all), unless the
 * command reports them itself (`sweep: false`: fsck).
 */
export async function withStore<T>(
  cmd: Command,
  fn: (store: Store) => Promise<T>,
  opts: { sweep?: boolean } = {},
): Promise<T> {
  const store = openStore(cmd.optsWithGlobals().root as string | undefined);
  try {
    if (opts.sweep !== false) await sweepLeftovers(store.root);
    return await fn(store);
  } finally {
    store.close();
  }
}

/** docker's human sizes: decimal units, 4 significant digits (2129920 → 2.13MB). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number.parseFloat(n.toPrecision(4))}${units[i]}`;
}

/** Parse `10GB`, `512m`, `1.5GiB` or plain bytes (binary multiples, as buildx --keep-storage). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(text);
  if (!m) {
    throw new KilnError('INVALID_SIZE', `invalid size "${text}"`, {
      hint: 'write a size such as 500MB, 10GB or 1073741824',
    });
  }
  const pow = ' kmgtp'.indexOf(m[2].toLowerCase() || ' ');
  return Math.round(Number(m[1]) * 1024 ** pow);
}

/** docker's relative times: "3 minutes ago", "About an hour ago", "2 years ago". */
export function timeAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, (now - t) / 1000);
  const h = s / 3600;
  let text: string;
  if (s < 1) text = 'Less than a second';
  else if (s < 2) text = '1 second';
  else if (s < 60) text = `${Math.floor(s)} seconds`;
  else if (s < 120) text = 'About a minute';
  else if (h < 1) text = `${Math.floor(s / 60)} minutes`;
  else if (h < 2) text = 'About an hour';
  else if (h < 48) text = `${Math.floor(h)} hours`;
  else if (h < 24 * 14) text = `${Math.floor(h / 24)} days`;
  else if (h < 24 * 60) text = `${Math.floor(h / 24 / 7)} weeks`;
  else if (h < 24 * 365 * 2) text = `${Math.floor(h / 24 / 30)} months`;
  else text = `${Math.floor(h / 24 / 365)} years`;
  return `${text} ago`;
}

/** Left-aligned columns separated by three spaces, as docker prints them. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('   ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function shortId(digest: string, noTrunc = false): string {
  return noTrunc ? digest : digestHex(digest as `sha256:${string}`).slice(0, 12);
}

/** Set up the images listing on `cmd` (used for `kiln images` and `kiln image ls`). */
export function configureImages(cmd: Command): Command {
  return cmd
    .description('List images in the local store')
    .argument('[repository]', 'only images of this repository (optionally with :tag)')
    .option('--format <format>', 'table or json', 'table')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show root digests')
    .option('--no-trunc', 'do not truncate IDs')
    .action(async (repository: string | undefined, opts, c: Command) => {
      const all = await withStore(c, (store) => listImages(store));
      const images = repository
        ? all.filter(
            (i) =>
              i.repository === repository ||
              `${i.repository}:${i.tag}` === repository ||
              i.name === repository,
          )
        : all;
      if (opts.format === 'json') {
        process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
        return;
      }
      if (opts.format !== 'table')
        throw new KilnError('INVALID_FORMAT', `unknown --format "${opts.format}"`, {
          hint: 'use table or json',
        });
      const noTrunc = opts.trunc === false;
      if (opts.quiet) {
        process.stdout.write(
          [...new Set(images.map((i) => shortId(i.id, noTrunc)))].map((l) => `${l}\n`).join(''),
        );
        return;
      }
      const header = [
        'REPOSITORY',
        'TAG',
        ...(opts.digests ? ['DIGEST'] : []),
        'IMAGE ID',
        'CREATED',
        'SIZE',
      ];
      const rows = images.map((i) => [
        i.repository,
        i.tag,
        ...(opts.digests ? [i.digest] : []),
        shortId(i.id, noTrunc),
        timeAgo(i.created),
        humanSize(i.size),
      ]);
      process.stdout.write(formatTable(header, rows));
    });
}

export function register(program: Command): void {
  configureImages(program.command('images'));
}
