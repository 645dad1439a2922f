/**
 * `kiln copy CTR SRC… [DEST]` and `kiln add CTR SRC… [DEST]`: files into a working container, as
 * buildah copy and add (`--chown`, `--chmod`, `--from` a container or image, `--contextdir`; add
 * fetches URLs and unpacks local archives). DEST defaults to the container's working directory.
 */
import type { Command } from 'commander';
import { withContainers } from './from.ts';

function configure(cmd: Command, add: boolean): Command {
  return cmd
    .description(
      add
        ? 'Add files, URLs or archives (unpacked) to a working container'
        : 'Copy files into a working container',
    )
    .argument('<container>', 'container name or ID')
    .argument('<paths...>', 'sources, then the destination (default: the working directory)')
    .option('--chown <owner>', 'owner of what is copied: USER[:GROUP] or UID[:GID]')
    .option('--chmod <mode>', 'mode of what is copied (octal or symbolic)')
    .option('--from <container-or-image>', 'copy from this working container or image instead of the host')
    .option('--contextdir <dir>', 'read relative sources from this directory')
    .option('-q, --quiet', 'accepted as buildah has it')
    .action(async (ref: string, paths: string[], opts, c: Command) => {
      const sources = paths.length > 1 ? paths.slice(0, -1) : paths;
      const dest = paths.length > 1 ? paths.at(-1) : undefined;
      await withContainers(c, async (w) =>
        (await w.get(ref)).copy(sources, dest, {
          chown: opts.chown,
          chmod: opts.chmod,
          from: opts.from,
          contextDir: opts.contextdir,
          add,
        }),
      );
    });
}

export function register(program: Command): void {
  configure(program.command('copy'), false);
  configure(program.command('add'), true);
}
