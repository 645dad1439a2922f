/**
 * Measures checksum() over a generated context (20,000 small files + 128 MiB of larger ones),
 * cold (empty digest cache) and warm. Run: node src/context/checksum-bench.ts [--drop-caches] [dir]
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checksum } from './checksum.ts';
import { DigestCache } from './digestcache.ts';

const args = process.argv.slice(2);
// --drop-caches also measures with a cold kernel page cache (root only; slows the whole machine).
const drop = args.includes('--drop-caches');
const root = args.find((a) => !a.startsWith('--')) ?? '/tmp/kiln-bench-context';
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

/** Drop the kernel page cache (root only) so "cold" also means cold disk reads. */
function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function run(label: string): void {
  const cache = DigestCache.open(db);
  const t0 = process.hrtime.bigint();
  const d = checksum({ root, paths: ['.'], cache });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  cache.close();
  console.log(`${label}: ${ms.toFixed(0)} ms  ${d}`);
}
run('cold digest cache, warm page cache');
rmSync(db, { force: true });
rmSync(`${db}-wal`, { force: true });
rmSync(`${db}-shm`, { force: true });
if (drop && dropCaches()) run('cold digest cache, cold page cache');
if (drop && dropCaches()) run('warm digest cache, cold page cache');
run('warm');
run('warm');
const t0 = process.hrtime.bigint();
checksum({ root, paths: ['.'] });
console.log(`no cache: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
