/**
 * `kiln containers` (`ps`): the working containers, as buildah containers lists them: a table,
 * `--json`, `-q` (IDs) or `--format` (a Go template over ContainerID, Builder, ImageID, ImageName,
 * ContainerName).
 */
import type { Command } from 'commander';
import { formatRows } from '../format/format.ts';
import { withContainers } from './from.ts';

export function register(program: Command): void {
  program
    .command('containers')
    .alias('ps')
    .description('List the working containers')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print only container IDs')
    .option('--notruncate', 'do not truncate IDs and image names')
    .option('--format <format>', 'a Go template, e.g. "{{.ContainerID}} {{.ContainerName}}"')
    .option('-n, --noheading', 'no heading line')
    .action(async (opts, c: Command) => {
      const list = await withContainers(c, (w) => w.list());
      const full = Boolean(opts.notruncate);
      if (opts.json) {
        const rows = list.map((r) => ({
          id: r.id,
          builder: true,
          imageid: r.fromImageId?.replace(/^sha256:/, '') ?? '',
          imagename: r.fromImage,
          containername: r.name,
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 4)}\n`);
        return;
      }
      if (opts.quiet) {
        for (const r of list) process.stdout.write(`${full ? r.id : r.id.slice(0, 12)}\n`);
        return;
      }
      const rows = list.map((r) => ({
        ContainerID: full ? r.id : r.id.slice(0, 12),
        Builder: '*',
        ImageID: (r.fromImageId?.replace(/^sha256:/, '') ?? '').slice(0, full ? undefined : 12),
        ImageName: r.fromImage,
        ContainerName: r.name,
      }));
      const format =
        opts.format ??
        'table {{.ContainerID}}\t{{.Builder}}\t{{.ImageID}}\t{{.ImageName}}\t{{.ContainerName}}';
      let text = formatRows(format, rows, {
        ContainerID: 'CONTAINER ID',
        Builder: 'BUILDER',
        ImageID: 'IMAGE ID',
        ImageName: 'IMAGE NAME',
        ContainerName: 'CONTAINER NAME',
      });
      if (opts.noheading && format.startsWith('table')) text = text.split('\n').slice(1).join('\n');
      process.stdout.write(text);
    });
}
