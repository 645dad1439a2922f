/**
 * `kiln mount [CTR…]` and `kiln umount CTR…|--all`: mount a working container's rootfs where the
 * user may change it with any tool (its path is printed; changes are the container's, committed
 * by `kiln commit`), and unmount it. Without a container, `kiln mount` lists the mounted ones.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { withContainers } from './from.ts';

export function register(program: Command): void {
  program
    .command('mount')
    .description("Mount a working container's root filesystem and print where")
    .argument('[containers...]', 'container names or IDs (none: list the mounted ones)')
    .action(async (refs: string[], _o, c: Command) => {
      const lines = await withContainers(c, async (w) => {
        if (refs.length === 0)
          return (await w.list()).filter((r) => r.mountPoint).map((r) => `${r.name} ${r.mountPoint}`);
        const out: string[] = [];
        for (const ref of refs) {
          const path = await (await w.get(ref)).mount();
          out.push(refs.length > 1 ? `${ref} ${path}` : path);
        }
        return out;
      });
      if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
    });
  program
    .command('umount')
    .alias('unmount')
    .description("Unmount a working container's root filesystem")
    .argument('[containers...]', 'container names or IDs')
    .option('-a, --all', 'unmount every working container')
    .action(async (refs: string[], o, c: Command) => {
      if (!refs.length && !o.all)
        throw new KilnError('CONTAINER_MISSING', 'name a container to unmount', { hint: 'or pass --all' });
      const done = await withContainers(c, async (w) => {
        const ids = o.all ? (await w.list()).filter((r) => r.mountPoint).map((r) => r.id) : refs;
        const out: string[] = [];
        for (const ref of ids) {
          const ctr = await w.get(ref);
          await ctr.umount();
          out.push(ctr.id);
        }
        return out;
      });
      if (done.length) process.stdout.write(`${done.join('\n')}\n`);
    });
}
