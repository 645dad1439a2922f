/**
 * `kiln inspect [--type container|image] [--format T] NAME`: a working container (buildah
 * inspect's fields: FromImage, Container, ContainerID, MountPoint, OCIv1 config…) or, when no
 * container has that name, an image (as `kiln image inspect`).
 */
import type { Command } from 'commander';
import { hasCode, KilnError } from '../../errors/errors.ts';
import { inspectImage } from '../../imagestore/query.ts';
import { parseTemplate } from '../format/template.ts';
import { withContainers } from './from.ts';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Show a working container or an image as JSON')
    .argument('<name>', 'container or image name or ID')
    .option('-t, --type <type>', 'container or image (default: a container when one has the name)')
    .option('-f, --format <format>', 'a Go template, e.g. "{{.OCIv1.config.Env}}"')
    .action(async (name: string, o, c: Command) => {
      const type = o.type as string | undefined;
      if (type && type !== 'container' && type !== 'image') {
        throw new KilnError('INSPECT_TYPE_INVALID', `unknown --type "${type}"`, {
          hint: 'use container or image',
        });
      }
      const value = await withContainers(c, async (w) => {
        if (type !== 'image') {
          try {
            return (await w.get(name)).inspect();
          } catch (err) {
            if (type === 'container' || !hasCode(err, 'CONTAINER_NOT_FOUND')) throw err;
          }
        }
        return inspectImage(w.session.store, name);
      });
      if (o.format) process.stdout.write(`${parseTemplate(o.format).execute(value, {}, true)}\n`);
      else process.stdout.write(`${JSON.stringify(value, null, 4)}\n`);
    });
}
