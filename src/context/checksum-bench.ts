/**
 * Measures checksum() over a generated context (20,000 small files + 128 MiB of larger ones),
 * cold (empty digest cache) and warm. Run: node src/context/checksum-bench.ts [dir]
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checksum } from './checksum.ts';
import { DigestCache } from './digestcache.ts';

const root = process.argv[2] ?? '/tmp/kiln-bench-context';
rmSync(root, { recursive: true, force: true });
for (let d = 0; d < 200; d++) {
  const dir = join(root, 'small', `d${d}`);
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < 100; f++)
    writeFileSync(join(dir, `f${f}.txt`), randomBytes(200 + ((d * 100 + f) % 3000)));
}
mkdirSync(join(root, 'big'));
for (let i = 0; i < 8; i++) writeFileSync(join(root, 'big', `blob${i}.bin`), randomBytes(16 << 20));
const db = `${root}.digests.db`;
rmSync(db, { force: true });
// Let the files age past the racy-mtime window so they are cacheable.
await new Promise((r) => setTimeout(r, 200));

function run(label: string): void {
  const cache = DigestCache.open(db);
  const t0 = process.hrtime.bigint();
  const d = checksum({ root, paths: ['.'], cache });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  cache.close();
  console.log(`${label}: ${ms.toFixed(0)} ms  ${d}`);
}
run('cold (empty cache)');
run('warm');
run('warm');
const t0 = process.hrtime.bigint();
checksum({ root, paths: ['.'] });
console.log(`no cache: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
