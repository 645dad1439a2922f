/** `kiln tag SRC DST` (also `kiln image tag`): give an image another name. */
import type { Command } from 'commander';
import { tagImage } from '../../imagestore/query.ts';
import { withStore } from './images.ts';

export function configureTag(cmd: Command): Command {
  return cmd
    .description('Create a name DST that refers to the image SRC')
    .argument('<source>', 'image name or ID')
    .argument('<target>', 'new name, e.g. registry.example.com/app:1.0')
    .action(async (source: string, target: string, _opts, c: Command) => {
      await withStore(c, (store) => tagImage(store, source, target));
    });
}

export function register(program: Command): void {
  configureTag(program.command('tag'));
}
