/**
 * `kiln images` (also `kiln image ls`): docker's listing, flags and formats — a row per name
 * (`<none>` for unnamed images), newest first, `-q`, `--digests`, `--no-trunc`, `--filter`, and
 * `--format` (table, json or a template). Also the helpers the image commands share.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { filterImages, parseImageFilters } from '../../imagestore/filters.ts';
import { type ImageSummary, listImages } from '../../imagestore/query.ts';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { sweepLeftovers } from '../../store/leftovers.ts';
import { openStore, type Store } from '../../store/store.ts';
import { formatRows, isTable } from '../format/format.ts';
import { strictContext } from '../format/template.ts';
import { epochSeconds, goTimeString, humanSize, timeSince, truncateId } from '../format/units.ts';

export { humanSize };

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

export const collect = (v: string, prev: string[]) => [...prev, v];

/** docker's column titles for image rows. */
export const IMAGE_TITLES: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

const DEFAULT_FORMAT =
  'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';
const DEFAULT_FORMAT_DIGESTS =
  'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';

/** docker's NewImageFormat: the table a flag combination means. */
export function imageFormat(format: string, quiet: boolean, digests: boolean): string {
  if (format === 'table') return quiet ? '{{.ID}}' : digests ? DEFAULT_FORMAT_DIGESTS : DEFAULT_FORMAT;
  if (isTable(format) && digests && !format.includes('{{.Digest}}')) return `${format}\t{{.Digest}}`;
  return format;
}

export interface ImageRowOptions {
  /** Cut IDs to 12 characters (unless --no-trunc). */
  trunc: boolean;
  /** Show the root digest (--digests, or a format naming {{.Digest}}). */
  digests: boolean;
  now: number;
  /** Shared bytes per image ID, when known (system df -v); docker shows N/A otherwise. */
  shared?: Map<string, number>;
}

/** One docker image context: the fields `--format` templates see, in Go's (sorted) JSON order. */
export function imageRow(img: ImageSummary, repo: string, tag: string, digest: string, o: ImageRowOptions) {
  const shared = o.shared?.get(img.id);
  const since = img.created ? timeSince(img.created, o.now) : undefined;
  return strictContext({
    Containers: o.shared ? '0' : 'N/A',
    CreatedAt: goTimeString(epochSeconds(img.created)),
    CreatedSince: since ?? '',
    Digest: digest,
    ID: o.trunc ? truncateId(img.id) : img.id,
    Repository: repo,
    SharedSize: shared === undefined ? 'N/A' : humanSize(shared),
    Size: humanSize(img.size, 3),
    Tag: tag,
    UniqueSize: shared === undefined ? 'N/A' : humanSize(img.size - shared),
    VirtualSize: humanSize(img.size),
  });
}

/** Rows as docker makes them: one per name (grouped by repository), `<none>` for unnamed images. */
export function imageRows(images: ImageSummary[], o: ImageRowOptions) {
  const sorted = [...images].sort(
    (a, b) =>
      (Date.parse(b.created ?? '') || 0) - (Date.parse(a.created ?? '') || 0) || a.id.localeCompare(b.id),
  );
  const rows: ReturnType<typeof imageRow>[] = [];
  for (const img of sorted) {
    if (img.names.length === 0) {
      rows.push(imageRow(img, '<none>', '<none>', '<none>', o));
      continue;
    }
    const byRepo = new Map<string, string[]>();
    for (const n of img.names) {
      const ref = parseReference(n);
      const repo = familiarName({ domain: ref.domain, path: ref.path });
      byRepo.set(repo, [...(byRepo.get(repo) ?? []), ref.tag ?? '<none>']);
    }
    for (const [repo, tags] of byRepo)
      for (const tag of tags) rows.push(imageRow(img, repo, tag, o.digests ? img.digest : '<none>', o));
  }
  return rows;
}

/** Set up the images listing on `cmd` (used for `kiln images` and `kiln image ls`). */
export function configureImages(cmd: Command): Command {
  return cmd
    .description('List images')
    .argument('[repository]', 'only images of this repository (REPOSITORY[:TAG], globs allowed)')
    .option('-a, --all', 'show all images (kiln keeps no intermediate images, so this changes nothing)')
    .option('--digests', 'show digests')
    .option(
      '-f, --filter <filter>',
      'filter: reference=, before=, since=, dangling=true|false, label=KEY[=VALUE] (repeatable)',
      collect,
      [],
    )
    .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template", 'table')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image IDs')
    .action(async (repository: string | undefined, opts, c: Command) => {
      const filters = parseImageFilters(opts.filter as string[]);
      if (repository) filters.reference.push(repository);
      const images = await withStore(c, async (store) =>
        filterImages(store, await listImages(store), filters),
      );
      const format = imageFormat(opts.format as string, Boolean(opts.quiet), Boolean(opts.digests));
      const rows = imageRows(images, {
        trunc: opts.trunc !== false,
        digests: Boolean(opts.digests) || format.includes('{{.Digest}}'),
        now: Date.now(),
      });
      process.stdout.write(formatRows(format, rows, IMAGE_TITLES));
    });
}

export function register(program: Command): void {
  configureImages(program.command('images'));
}
