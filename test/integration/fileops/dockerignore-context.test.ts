/**
 * BuildKit's dockerignore integration cases (testdata from moby/buildkit), replayed as the
 * context step of `COPY . .`: the selected ignore file filters the context and copy() writes
 * the result into an empty root. RUN checks in those Dockerfiles are asserted as file checks.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../../../src/fileops/index.ts';
import { selectDockerignore } from '../../../src/frontend/dockerignore/index.ts';
import { sharedTestdata } from '../../../src/testing/shared-testdata.ts';
import { tempDir } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON test table
const cases: any[] = JSON.parse(
  readFileSync(sharedTestdata('dockerignore', 'buildkit_dockerignore_integration.json'), 'utf8'),
);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function copyContext(ctx: string, dockerfile: string): Promise<string> {
  const patterns = selectDockerignore(ctx, join(ctx, dockerfile)).patterns;
  const dest = tempDir('kiln-bkctx-dst-');
  dirs.push(dest);
  await copy({
    srcRoot: ctx,
    srcPaths: ['.'],
    destRoot: dest,
    dest: '/',
    srcExcludePatterns: patterns,
    dirContentsOnly: true,
    followSymlinks: true,
    allowWildcard: true,
    createDestPath: true,
    defaultOwner: { uid: 0, gid: 0 },
  });
  return dest;
}

describe('buildkit dockerignore integration cases', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = tempDir('kiln-bkctx-');
      dirs.push(ctx);
      for (const [name, content] of Object.entries(c.files))
        writeFileSync(join(ctx, name), content as string);
      if (c.expectError) {
        await assert.rejects(copyContext(ctx, c.dockerfileName), { code: 'DOCKERIGNORE_INVALID' });
        return;
      }
      const out = await copyContext(ctx, c.dockerfileName);
      for (const [name, content] of Object.entries(c.expectedOutputFiles ?? {}))
        assert.equal(readFileSync(join(out, name), 'utf8'), content);
      for (const name of [...(c.expectedAbsent ?? []), ...(c.expectedNotInImage ?? [])])
        assert.equal(existsSync(join(out, name)), false, name);
      for (const name of c.expectedInImage ?? []) assert.equal(existsSync(join(out, name)), true, name);
    });
  }
});
