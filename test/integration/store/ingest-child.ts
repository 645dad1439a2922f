/**
 * Child process for the kill -9 test: commits one small blob, then ingests an endless stream
 * into the store at argv[2], printing "streaming" once bytes are flowing. The parent kills it.
 */
import { randomBytes } from 'node:crypto';
import { openStore } from '../../../src/store/store.ts';

const store = openStore(process.argv[2]);
const small = await store.content.writeBlob(Buffer.from('committed before the kill'));
process.stdout.write(`committed ${small.digest}\n`);
async function* endless() {
  const chunk = randomBytes(1 << 20);
  for (let i = 0; ; i++) {
    chunk[0] = i & 0xff;
    yield chunk;
    if (i === 8) process.stdout.write('streaming\n');
    await new Promise((r) => setImmediate(r));
  }
}
await store.content.ingest(endless());
