/**
 * `kiln from [--name N] [--platform P] [--pull] IMAGE|scratch`: a new working container, as
 * buildah from; prints its name. Also the helper every working-container command opens them with.
 */
import type { Command } from 'commander';
import { parsePlatform } from '../../oci/platform.ts';
import { WorkingContainers } from '../../working/container.ts';
import { commandSignal } from '../signals.ts';
import { withStore } from './images.ts';
import { addRegistryConfigOption } from './pull.ts';

/** Open the working containers of the root the global options name, for `fn`. */
export function withContainers<T>(c: Command, fn: (w: WorkingContainers) => Promise<T>): Promise<T> {
  const opts = c.optsWithGlobals();
  return withStore(c, async (store) => {
    const w = await WorkingContainers.open({
      store,
      signal: commandSignal(),
      registryConfig: opts.registryConfig as string | undefined,
      onWait: (name) =>
        process.stderr.write(`waiting for working container "${name}": another kiln command is using it\n`),
    });
    try {
      return await fn(w);
    } finally {
      await w.close();
    }
  });
}

export function register(program: Command): void {
  addRegistryConfigOption(
    program
      .command('from')
      .description('Create a working container from an image (or scratch) and print its name')
      .argument('<image>', 'image name or ID, or "scratch"')
      .option('--name <name>', 'container name (default <image>-working-container)')
      .option('--platform <platform>', 'platform of the image to use (os/arch[/variant])')
      .option('--pull', 'pull the image even when the local store has it')
      .option('-q, --quiet', 'accepted as buildah has it (kiln prints no pull progress here)'),
  ).action(async (image: string, opts, c: Command) => {
    const ctr = await withContainers(c, (w) =>
      w.from(image, {
        name: opts.name,
        platform: opts.platform ? parsePlatform(opts.platform) : undefined,
        pull: Boolean(opts.pull),
      }),
    );
    process.stdout.write(`${ctr.name}\n`);
  });
}
