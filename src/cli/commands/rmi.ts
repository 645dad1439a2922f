/** `kiln rmi IMAGE...` (also `kiln image rm`): untag names, delete images, as `docker rmi` prints it. */
import type { Command } from 'commander';
import { removeImages } from '../../store/remove.ts';
import { withStore } from './images.ts';

export function configureRmi(cmd: Command): Command {
  return cmd
    .description('Remove one or more images')
    .argument('<image...>', 'image names or IDs (any unique prefix)')
    .option('-f, --force', 'remove every name of an image given by ID')
    .option('--no-prune', 'keep the content of removed images')
    .action(async (refs: string[], opts, c: Command) => {
      const res = await withStore(c, (store) =>
        removeImages(store, refs, { force: opts.force, noPrune: opts.prune === false }),
      );
      for (const i of res.items)
        process.stdout.write('untagged' in i ? `Untagged: ${i.untagged}\n` : `Deleted: ${i.deleted}\n`);
    });
}

export function register(program: Command): void {
  configureRmi(program.command('rmi'));
}
