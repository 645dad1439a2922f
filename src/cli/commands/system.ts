/**
 * `kiln system df`: docker's disk usage summary (TYPE TOTAL ACTIVE SIZE RECLAIMABLE for Images,
 * Containers, Local Volumes and Build Cache; kiln has no containers or volumes), `-v` for the
 * per-image and per-record tables, and `--format`. The Images and Build Cache sizes add up to
 * the state root on disk; RECLAIMABLE is what `kiln image prune -a` and `kiln builder prune -a`
 * give back.
 */
import type { Command } from 'commander';
import { type CacheRecord, storeUsage } from '../../cache/usage.ts';
import { type ImageSummary, listImages } from '../../imagestore/query.ts';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { formatRows, isTable } from '../format/format.ts';
import { strictContext } from '../format/template.ts';
import { goTimeString, humanSize, timeSince, truncateId } from '../format/units.ts';
import { IMAGE_TITLES, imageRow, withStore } from './images.ts';

const DF_FORMAT = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
const DF_TITLES = {
  Type: 'TYPE',
  TotalCount: 'TOTAL',
  Active: 'ACTIVE',
  Size: 'SIZE',
  Reclaimable: 'RECLAIMABLE',
};
const IMAGES_V =
  'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}';
const CONTAINERS_V =
  'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}';
const CACHE_V =
  'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}';
const CACHE_TITLES = {
  ID: 'CACHE ID',
  Parent: 'PARENT',
  CacheType: 'CACHE TYPE',
  Size: 'SIZE',
  CreatedSince: 'CREATED',
  LastUsedSince: 'LAST USED',
  UsageCount: 'USAGE',
  InUse: 'IN USE',
  Shared: 'SHARED',
  Description: 'DESCRIPTION',
};

export function summaryRow(
  type: string,
  total: number,
  active: number,
  size: number,
  reclaimable: number,
  percent: boolean,
) {
  const pct = percent && size > 0 ? ` (${Math.trunc((reclaimable * 100) / size)}%)` : '';
  return strictContext({
    Active: String(active),
    Reclaimable: `${humanSize(reclaimable)}${pct}`,
    Size: humanSize(size),
    TotalCount: String(total),
    Type: type,
  });
}

/** docker's buildCacheContext for one record. */
export function cacheRow(r: CacheRecord, trunc: boolean, now: number) {
  return strictContext({
    CacheType: r.type,
    CreatedAt: r.createdAt ? goTimeString(Date.parse(r.createdAt) / 1000) : '',
    CreatedSince: timeSince(r.createdAt, now) ?? '',
    Description: r.description,
    ID: trunc ? truncateId(r.id) : r.id,
    InUse: String(!r.reclaimable),
    LastUsedAt: r.lastUsedAt ? goTimeString(Date.parse(r.lastUsedAt) / 1000) : '',
    LastUsedSince: timeSince(r.lastUsedAt, now) ?? '',
    Parent: trunc ? truncateId(r.parents.join(', ')) : r.parents.join(', '),
    Shared: String(r.shared),
    Size: humanSize(r.size, 3),
    Type: r.type,
    UsageCount: String(r.usageCount),
  });
}

/** Uncompressed bytes of each image's layers that another image uses too, by image ID. */
function sharedSizes(images: ImageSummary[]): Map<string, number> {
  const users = new Map<string, Set<string>>();
  for (const i of images)
    for (const l of i.layers) users.set(l.digest, (users.get(l.digest) ?? new Set()).add(i.id));
  const out = new Map<string, number>();
  for (const i of images) {
    const seen = new Set<string>();
    let n = 0;
    for (const l of i.layers) {
      if (seen.has(l.digest)) continue;
      seen.add(l.digest);
      if ((users.get(l.digest)?.size ?? 0) > 1) n += l.size;
    }
    out.set(i.id, n);
  }
  return out;
}

/** docker system df -v's tables: images, (no) containers, (no) volumes, build cache records. */
export function verboseTables(
  imageRows: ReturnType<typeof imageRow>[],
  cacheRows: ReturnType<typeof cacheRow>[],
  buildCacheTotal: number,
): string {
  let out = 'Images space usage:\n\n';
  out += formatRows(IMAGES_V, imageRows, IMAGE_TITLES);
  out += '\nContainers space usage:\n\n';
  out += formatRows(CONTAINERS_V, [], {
    ID: 'CONTAINER ID',
    Image: 'IMAGE',
    Command: 'COMMAND',
    LocalVolumes: 'LOCAL VOLUMES',
    Size: 'SIZE',
    RunningFor: 'CREATED',
    Status: 'STATUS',
    Names: 'NAMES',
  });
  out += '\nLocal Volumes space usage:\n\n';
  out += formatRows('table {{.Name}}\t{{.Links}}\t{{.Size}}', [], {
    Name: 'VOLUME NAME',
    Links: 'LINKS',
    Size: 'SIZE',
  });
  out += `\nBuild cache usage: ${humanSize(buildCacheTotal)}\n\n`;
  out += formatRows(CACHE_V, cacheRows, CACHE_TITLES);
  return out;
}

function configureDf(cmd: Command): Command {
  return cmd
    .description('Show disk usage: images, build cache (and no containers or volumes)')
    .option('--format <format>', "'table', 'table TEMPLATE', 'json' or a Go template", 'table')
    .option('-v, --verbose', 'show detailed information on space usage')
    .action(async (opts, c: Command) => {
      const now = Date.now();
      const { usage, images } = await withStore(c, async (store) => ({
        usage: await storeUsage(store),
        images: await listImages(store),
      }));
      const records = usage.buildCache.records.filter((r) => r.type !== 'internal');
      const format = opts.format as string;
      if (!opts.verbose) {
        const rows = [
          summaryRow('Images', images.length, 0, usage.disk.total, usage.disk.imageReclaimable, true),
          summaryRow('Containers', 0, 0, 0, 0, true),
          summaryRow('Local Volumes', 0, 0, 0, 0, true),
          summaryRow(
            'Build Cache',
            records.length,
            records.filter((r) => !r.reclaimable && r.type === 'regular').length,
            usage.buildCache.total,
            usage.buildCache.reclaimable,
            false,
          ),
        ];
        process.stdout.write(formatRows(format === 'table' ? DF_FORMAT : format, rows, DF_TITLES));
        return;
      }
      const shared = sharedSizes(images);
      const trunc = isTable(format);
      const imageRows = dfImageRows(images, { trunc, now, shared });
      // docker sorts build cache records by last use, never-used first.
      const cacheRows = [...records]
        .sort((a, b) => (a.lastUsedAt ?? '').localeCompare(b.lastUsedAt ?? '') || a.id.localeCompare(b.id))
        .map((r) => cacheRow(r, trunc, now));
      if (format !== 'table') {
        // A custom template sees docker's verbose context: .Images, .Containers, .Volumes, .BuildCache.
        const data = { Images: imageRows, Containers: [], Volumes: [], BuildCache: cacheRows };
        process.stdout.write(formatRows(format, [data], {}));
        return;
      }
      const out = verboseTables(imageRows, cacheRows, usage.buildCache.total);
      process.stdout.write(out);
    });
}

/** docker df -v's image rows: newest first, each image once under its first name. */
export function dfImageRows(
  images: ImageSummary[],
  o: { trunc: boolean; now: number; shared: Map<string, number> },
): ReturnType<typeof imageRow>[] {
  return [...images]
    .sort((a, b) => (Date.parse(b.created ?? '') || 0) - (Date.parse(a.created ?? '') || 0))
    .map((i) =>
      imageRow(i, ...firstName(i), '<none>', {
        trunc: o.trunc,
        digests: false,
        now: o.now,
        shared: o.shared,
      }),
    );
}

/** docker df -v shows an image's first name only. */
function firstName(i: ImageSummary): [string, string] {
  if (!i.names.length) return ['<none>', '<none>'];
  const ref = parseReference(i.names[0]);
  return [familiarName({ domain: ref.domain, path: ref.path }), ref.tag ?? '<none>'];
}

export function register(program: Command): void {
  const system = program.command('system').description('Manage kiln');
  configureDf(system.command('df'));
}
