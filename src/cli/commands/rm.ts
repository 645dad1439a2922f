/** `kiln rm CTR…|--all`: remove working containers (their snapshots, directories and leases), as buildah rm. */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { withContainers } from './from.ts';

export function register(program: Command): void {
  program
    .command('rm')
    .description('Remove working containers')
    .argument('[containers...]', 'container names or IDs')
    .option('-a, --all', 'remove every working container')
    .action(async (refs: string[], o, c: Command) => {
      if (!refs.length && !o.all)
        throw new KilnError('CONTAINER_MISSING', 'name a container to remove', { hint: 'or pass --all' });
      const removed = await withContainers(c, async (w) => {
        const targets = o.all ? (await w.list()).map((r) => r.id) : refs;
        const out: string[] = [];
        for (const t of targets) {
          const ctr = await w.get(t);
          await ctr.rm();
          out.push(ctr.id);
        }
        return out;
      });
      if (removed.length) process.stdout.write(`${removed.join('\n')}\n`);
    });
}
