/** `kiln prune`: remove content no image or running build needs; `--all` removes images too. */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { prune } from '../../store/gc.ts';
import { humanSize, parseSize, withStore } from './images.ts';

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new KilnError('CONFIRMATION_NEEDED', 'prune needs confirmation but stdin is not a terminal', {
      hint: 'pass -f to prune without asking',
    });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export function register(program: Command): void {
  program
    .command('prune')
    .description('Remove unreferenced blobs and leftover temp files (with --all, images too)')
    .option('-a, --all', 'also remove images (oldest first when --keep-storage is given)')
    .option('--keep-storage <size>', 'with --all: keep this much image content, e.g. 10GB')
    .option('-f, --force', 'do not ask for confirmation')
    .option('--dry-run', 'only report what would be removed')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts, c: Command) => {
      const keepStorage = opts.keepStorage === undefined ? undefined : parseSize(opts.keepStorage);
      if (!opts.force && !opts.dryRun) {
        const what = opts.all
          ? keepStorage === undefined
            ? 'all images and all content'
            : `images (oldest first) until at most ${humanSize(keepStorage)} is used, and unreferenced content`
          : 'all content no image or running build references';
        if (!(await confirm(`WARNING! This will remove ${what}. Are you sure you want to continue?`))) return;
      }
      const res = await withStore(c, (store) =>
        prune(store, { all: opts.all, keepStorage, dryRun: opts.dryRun }),
      );
      if (opts.format === 'json') {
        process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
        return;
      }
      for (const n of res.removedImages)
        process.stdout.write(`${opts.dryRun ? 'Would untag' : 'Untagged'}: ${n}\n`);
      for (const b of res.removedBlobs)
        process.stdout.write(`${opts.dryRun ? 'Would delete' : 'Deleted'}: ${b.digest}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(res.reclaimedBytes)}\n`);
    });
}
