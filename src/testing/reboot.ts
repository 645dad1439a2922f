/**
 * A restart, as a snapshot store sees it, for tests that cannot reboot: the last pass over the
 * store's records (snapshot/writers.ts) becomes one of an earlier boot, so the next open passes
 * again, as the first open after a real reboot does.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { bootId } from '../snapshot/durability.ts';

export async function passedInEarlierBoot(snapshotRoot: string, earlier: string): Promise<void> {
  const dir = join(snapshotRoot, 'writers');
  await rename(join(dir, `boot-${bootId()}`), join(dir, `boot-${earlier}`));
}
