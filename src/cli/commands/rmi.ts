/** `kiln rmi NAME...` (also `kiln image rm`): remove names; content nothing else needs is collected. */
import type { Command } from 'commander';
import { removeImages } from '../../imagestore/query.ts';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { withStore } from './images.ts';

export function configureRmi(cmd: Command): Command {
  return cmd
    .description('Remove one or more images')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --force', 'remove every name of an image given by ID')
    .option('--no-prune', 'keep the content of removed images')
    .action(async (refs: string[], opts, c: Command) => {
      const res = await withStore(c, (store) =>
        removeImages(store, refs, { force: opts.force, noPrune: opts.prune === false }),
      );
      for (const n of res.untagged) process.stdout.write(`Untagged: ${familiarName(parseReference(n))}\n`);
      for (const d of res.deleted) process.stdout.write(`Deleted: ${d}\n`);
    });
}

export function register(program: Command): void {
  configureRmi(program.command('rmi'));
}
