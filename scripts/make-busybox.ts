/**
 * Make the busybox base image the examples and tests build FROM (there is no Docker Hub here):
 * Debian's busybox-static for amd64 and arm64 as one multi-platform image in kiln's store,
 * named by the arguments (default busybox:latest). Usage: node scripts/make-busybox.ts [NAME…]
 */
import { normalizeReference } from '../src/reference/reference.ts';
import { openStore } from '../src/store/store.ts';
import { ensureBusyboxImages } from '../src/testing/fixtures.ts';

const names = process.argv.slice(2);
const store = openStore();
try {
  const { index } = await ensureBusyboxImages(store);
  for (const n of names.length ? names : ['busybox:latest']) {
    await store.images.put(normalizeReference(n), index);
    process.stdout.write(`${normalizeReference(n)} -> ${index.digest}\n`);
  }
} finally {
  store.close();
}
