/**
 * `kiln builder prune`: forget build-cache results and remove the snapshots nothing needs;
 * `kiln builder du`: the build cache's records as `docker buildx du` lists them.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { BuildCache } from '../../cache/build-cache.ts';
import { parseDuration, parseStorageSize } from '../../cache/gc.ts';
import { pruneBuildCache } from '../../cache/prune.ts';
import { KilnError } from '../../errors/errors.ts';
import { openSnapshotter } from '../../store/snapshots.ts';
import { configureBuilderDu } from './builder-du.ts';
import { humanSize, withStore } from './images.ts';

export function register(program: Command): void {
  const builder = program.command('builder').description('Manage the build cache');
  configureBuilderDu(builder.command('du'));
  builder
    .command('prune')
    .description(
      'Remove build cache: results unused for 48 hours (all with --all) and unreferenced snapshots',
    )
    .option('-a, --all', 'remove all build cache, not only results unused for 48 hours')
    .option('--keep-duration <hours>', 'keep results used within this many hours', '48')
    .option(
      '--keep-storage <size>',
      'then forget least recently used results until the cache fits in SIZE (e.g. 10GB)',
    )
    .option(
      '--filter <filter>',
      'until=DURATION: remove results unused for longer (e.g. 24h) (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('-f, --force', 'do not ask for confirmation (accepted as docker has it; this never asks)')
    .action(
      async (
        o: { all?: boolean; keepDuration: string; keepStorage?: string; filter: string[] },
        cmd: Command,
      ) => {
        let unusedForMs = Number.parseFloat(o.keepDuration) * 3600_000;
        for (const f of o.filter) {
          const m = /^until=(.+)$/.exec(f);
          if (!m)
            throw new KilnError('INVALID_FILTER', `unsupported builder prune filter "${f}"`, {
              hint: 'kiln builder prune takes --filter until=DURATION (e.g. until=24h)',
            });
          unusedForMs = parseDuration(m[1], '--filter until');
        }
        const keepStorage =
          o.keepStorage === undefined ? undefined : parseStorageSize(o.keepStorage, '--keep-storage');
        const r = await withStore(cmd, async (store) => {
          const cache = new BuildCache(join(store.root, 'buildcache.db'));
          try {
            const sn = await openSnapshotter(join(store.root, 'snapshots'));
            try {
              return await pruneBuildCache(cache, sn, {
                all: o.all,
                unusedForMs,
                keepStorage,
              });
            } finally {
              await sn.release();
            }
          } finally {
            cache.close();
          }
        });
        const inUse = r.snapshotsInUse ? ` (${r.snapshotsInUse} in use by running builds kept)` : '';
        process.stdout.write(
          `removed ${r.resultsRemoved} cache results and ${r.snapshotsRemoved} snapshots${inUse}; reclaimed ${humanSize(r.bytesFreed)}\n`,
        );
      },
    );
}
