/** `kiln fsck`: verify the local store; exits 1 with a list of problems when it is not sound. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { KilnError } from '../../errors/errors.ts';
import { fsck } from '../../store/fsck.ts';
import type { Store } from '../../store/store.ts';
import { humanSize, withStore } from './images.ts';

/** Working containers' part (src/working/fsck.ts); nothing to open when there are none. */
async function containers(store: Store) {
  if (!existsSync(join(store.root, 'containers')))
    return { containerProblems: [], removedContainerLeftovers: [] };
  const { Session } = await import('../../working/session.ts');
  const { checkContainers } = await import('../../working/fsck.ts');
  const s = await Session.open({ store });
  try {
    const r = await checkContainers(s);
    return { containerProblems: r.problems, removedContainerLeftovers: r.removed };
  } finally {
    await s.close();
  }
}

export function register(program: Command): void {
  program
    .command('fsck')
    .description('Check every blob against its digest and every image for missing content')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts, c: Command) => {
      const r = await withStore(
        c,
        async (store) => ({ ...(await fsck(store)), ...(await containers(store)) }),
        {
          sweep: false,
        },
      );
      r.sound &&= r.containerProblems.length === 0;
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        const out: string[] = [];
        for (const x of r.corrupt) out.push(`corrupt: ${x.digest} (content hashes to ${x.actual})`);
        for (const x of r.missing) out.push(`missing: ${x.digest} (${x.mediaType}) needed by ${x.image}`);
        for (const x of r.strays) out.push(`stray file: ${x}`);
        for (const x of r.database) out.push(`database: ${x}`);
        for (const x of r.partial) out.push(`note: ${x.image} lacks index entry ${x.digest} (partial pull)`);
        for (const x of r.removedTemps) out.push(`removed leftover temp file ${x}`);
        for (const x of r.removedLeftovers) out.push(`removed what a killed kiln left: ${x}`);
        for (const x of r.activeLeftovers) out.push(`note: in use by a running kiln: ${x}`);
        for (const x of r.containerProblems) out.push(x);
        for (const x of r.removedContainerLeftovers) out.push(`removed what a killed kiln from left: ${x}`);
        out.push(
          `${r.checkedBlobs} blobs (${humanSize(r.checkedBytes)}) checked: ${r.sound ? 'sound' : 'NOT sound'}`,
        );
        process.stdout.write(`${out.join('\n')}\n`);
      }
      if (!r.sound) {
        throw new KilnError('STORE_UNSOUND', 'the local store has problems (listed above)', {
          hint: 'delete the affected images with `kiln rmi` and pull, load or build them again; remove stray files by hand',
        });
      }
    });
}
