/**
 * `kiln du`: where the state root's bytes are — per image (on disk, shared and unique), then the
 * image store, the build cache and the rest, each with what its prune would give back. The rows
 * add up to the root as `du -sb` measures it.
 */
import type { Command } from 'commander';
import { storeUsage } from '../../cache/usage.ts';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { formatRows } from '../format/format.ts';
import { tabwrite } from '../format/tabwriter.ts';
import { humanSize, truncateId } from '../format/units.ts';
import { withStore } from './images.ts';

export function register(program: Command): void {
  program
    .command('du')
    .description('Show disk usage of the state root: images, build cache and the rest')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts, c: Command) => {
      const u = await withStore(c, (store) => storeUsage(store));
      const d = u.disk;
      const b = u.buildCache;
      const snapshots = b.records.filter((r) => r.type === 'regular').length;
      const mounts = b.records.filter((r) => r.type === 'exec.cachemount').length;
      if (opts.format === 'json') {
        const json = {
          images: d.images,
          shared: d.shared,
          content: d.content,
          blobs: d.blobs,
          temps: d.temps,
          reclaimable: d.reclaimable,
          metadata: d.metadata,
          other: d.other,
          buildCache: { size: b.total, reclaimable: b.reclaimable, snapshots, cacheMounts: mounts },
          total: u.total,
        };
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        return;
      }
      const rows = d.images.map((i) => ({
        Image: i.names.length ? familiarName(parseReference(i.names[0])) : '<none>',
        Digest: truncateId(i.digest),
        Size: humanSize(i.size),
        Shared: humanSize(i.shared),
        Unique: humanSize(i.unique),
      }));
      process.stdout.write(
        formatRows('table {{.Image}}\t{{.Digest}}\t{{.Size}}\t{{.Shared}}\t{{.Unique}}', rows, {
          Image: 'IMAGE',
          Digest: 'DIGEST',
          Size: 'SIZE',
          Shared: 'SHARED SIZE',
          Unique: 'UNIQUE SIZE',
        }),
      );
      // Other: the root directory itself and entries that are neither content nor cache.
      const other = d.total - d.content - d.metadata;
      const lines = [
        `\nTYPE\tSIZE\tRECLAIMABLE\tDETAIL`,
        `Images\t${humanSize(d.content)}\t${humanSize(d.reclaimable)}\t${d.blobs} blobs, ${d.temps} temp files (kiln prune)`,
        `Build cache\t${humanSize(b.total)}\t${humanSize(b.reclaimable)}\t${snapshots} snapshots, ${mounts} cache mounts (kiln builder prune -a)`,
        `Metadata\t${humanSize(d.metadata)}\t0B\tmeta.db`,
        `Other\t${humanSize(other)}\t0B\t${Object.keys(d.other).join(', ') || '-'}`,
        `Total\t${humanSize(u.total)}\t${humanSize(d.reclaimable + b.reclaimable)}\t`,
      ];
      process.stdout.write(tabwrite(`${lines.join('\n')}\n`));
    });
}
