/**
 * Child process for the concurrent GC test: imports `count` small images (each a fresh layer)
 * into the store at argv[2] while the parent collects garbage in a loop.
 */
import { Readable } from 'node:stream';
import { importRootfs } from '../../../src/imagestore/import.ts';
import { openStore } from '../../../src/store/store.ts';
import { tarBytes } from '../../../src/testing/tar.ts';

async function rootfs(i: number): Promise<Buffer> {
  return tarBytes(async (w) => {
    await w.add({ path: `file-${i}`, type: 'file' }, Buffer.alloc(64 * 1024, i));
  });
}

const store = openStore(process.argv[2]);
const count = Number(process.argv[3]);
for (let i = 0; i < count; i++) {
  const tar = await rootfs(i);
  await store.withLease((c) =>
    importRootfs(Readable.from([tar]), c, store.images, { name: `gc-race/img:${i}` }),
  );
}
store.close();
