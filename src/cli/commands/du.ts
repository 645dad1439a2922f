/** `kiln du`: bytes per image (unique and shared), shared total, reclaimable, total. */
import type { Command } from 'commander';
import { familiarName, parseReference } from '../../reference/reference.ts';
import { diskUsage } from '../../store/gc.ts';
import { formatTable, humanSize, shortId, withStore } from './images.ts';

export function register(program: Command): void {
  program
    .command('du')
    .description('Show disk usage of the local store')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts, c: Command) => {
      const du = await withStore(c, (store) => diskUsage(store));
      if (opts.format === 'json') {
        process.stdout.write(`${JSON.stringify(du, null, 2)}\n`);
        return;
      }
      const rows = du.images.map((i) => [
        familiarName(parseReference(i.name)),
        shortId(i.digest),
        humanSize(i.size),
        humanSize(i.shared),
        humanSize(i.unique),
      ]);
      process.stdout.write(formatTable(['IMAGE', 'DIGEST', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE'], rows));
      process.stdout.write(
        `\nShared:      ${humanSize(du.shared)}\nReclaimable: ${humanSize(du.reclaimable)}\nTotal:       ${humanSize(du.total)} (${du.blobs} blobs, ${du.temps} temp files)\n`,
      );
    });
}
