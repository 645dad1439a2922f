/**
 * `kiln builder prune`: forget build-cache results and remove the snapshots nothing needs;
 * `kiln builder du`: the build cache's records as `docker buildx du` lists them.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { BuildCache } from '../../cache/build-cache.ts';
import { pruneBuildCache } from '../../cache/prune.ts';
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
    .option('-f, --force', 'do not ask for confirmation (accepted as docker has it; this never asks)')
    .action(async (o: { all?: boolean; keepDuration: string }, cmd: Command) => {
      const r = await withStore(cmd, async (store) => {
        const cache = new BuildCache(join(store.root, 'buildcache.db'));
        try {
          const sn = await openSnapshotter(join(store.root, 'snapshots'));
          try {
            return await pruneBuildCache(cache, sn, {
              all: o.all,
              unusedForMs: Number.parseFloat(o.keepDuration) * 3600_000,
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
    });
}
