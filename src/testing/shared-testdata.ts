/**
 * Where the external conformance data lives: `shared/testdata` beside the repository (as CI lays
 * it out), or KILN_SHARED_TESTDATA. Tests read it from there, never from copies, and fail loudly
 * when it is missing.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedTestdata(...parts: string[]): string {
  const candidates = [
    process.env.KILN_SHARED_TESTDATA,
    join(repoRoot, '../shared/testdata'),
    '/work/shared/testdata',
  ];
  for (const c of candidates) {
    if (c && existsSync(c)) return join(c, ...parts);
  }
  throw new Error(
    `shared conformance data not found (looked in ${candidates.filter(Boolean).join(', ')}); ` +
      'clone the repository next to shared/ or set KILN_SHARED_TESTDATA',
  );
}
