/**
 * `kiln commit CTR [NAME]`: the working container's changes since its last commit as one new
 * layer of an image in the local store (named NAME, or kept as `<none>`), as buildah commit;
 * prints the image ID. `--squash`, `--rm`, `--format oci|docker`, `--iidfile`, `--omit-history`.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { writeToDest } from '../../exporter/dest.ts';
import { commandSignal } from '../signals.ts';
import { withContainers } from './from.ts';

export function register(program: Command): void {
  program
    .command('commit')
    .description('Create an image from a working container')
    .argument('<container>', 'container name or ID')
    .argument('[image]', 'name of the image (default: unnamed, <none>)')
    .option('--squash', 'one layer holding the whole filesystem')
    .option('--rm', 'remove the working container after committing')
    .option('-f, --format <format>', 'oci or docker (media types of manifest and config)', 'oci')
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--omit-history', 'write no history into the image config')
    .option('-q, --quiet', 'print nothing but the image ID')
    .action(async (ref: string, image: string | undefined, o, c: Command) => {
      const format = String(o.format).toLowerCase();
      if (format !== 'oci' && format !== 'docker') {
        throw new KilnError('COMMIT_FORMAT_INVALID', `unknown --format "${o.format}"`, {
          hint: 'use oci or docker',
        });
      }
      const result = await withContainers(c, async (w) =>
        (await w.get(ref)).commit(image, {
          squash: Boolean(o.squash),
          rm: Boolean(o.rm),
          format,
          omitHistory: Boolean(o.omitHistory),
        }),
      );
      if (o.iidfile) {
        await writeToDest(o.iidfile, result.imageId, {
          stdout: process.stdout,
          signal: commandSignal(),
          what: 'the image ID (--iidfile)',
          hint: 'pass the path of a file to create or replace',
        });
      }
      process.stdout.write(`${result.imageId.replace(/^sha256:/, '')}\n`);
    });
}
