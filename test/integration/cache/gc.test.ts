/**
 * Keeping the build cache within bounds: `kiln builder prune --keep-storage` and `--filter
 * until=`, and the `[gc]` policy of the root's kiln.toml applied after every build.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOk, buildW, type CliRoot, cliRoot, ran, W } from './helpers.ts';

let r: CliRoot;
before(async () => {
  r = await cliRoot('cache-gc');
});
after(() => r.close());

describe('build cache housekeeping', () => {
  it('--filter until= keeps recent results, --keep-storage 0 forgets them all', async () => {
    const ctx = await r.context({ ...W, 'lib.txt': 'gc\n' });
    assertOk(await buildW(r, ctx, []), 'first build');
    const kept = r.kiln(['builder', 'prune', '--filter', 'until=24h']);
    assert.equal(kept.code, 0, kept.err);
    assert.match(kept.out, /^removed 0 cache results/);
    assert.deepEqual(ran((await buildW(r, ctx, [])).err), [], 'still cached');
    const bad = r.kiln(['builder', 'prune', '--filter', 'type=regular']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /unsupported builder prune filter "type=regular"/);
    const all = r.kiln(['builder', 'prune', '--keep-storage', '0']);
    assert.equal(all.code, 0, all.err);
    assert.match(all.out, /^removed [1-9]\d* cache results and [1-9]\d* snapshots/);
    assert.deepEqual(ran((await buildW(r, ctx, [])).err), ['build', 'deps', 'final'], 'cold again');
  });

  it('a [gc] policy in kiln.toml is applied after each build', async () => {
    const ctx = await r.context({ ...W, 'lib.txt': 'gc policy\n' });
    assertOk(await buildW(r, ctx, []), 'first build');
    assert.deepEqual(ran((await buildW(r, ctx, [])).err), [], 'cached without a policy');
    await writeFile(join(r.root, 'kiln.toml'), '[gc]\nkeep-storage = "0"\nkeep-duration = "48h"\n');
    try {
      assertOk(await buildW(r, ctx, []), 'build under the policy');
      // That build's results were forgotten once it was done: the next one runs every step.
      assert.deepEqual(ran((await buildW(r, ctx, [])).err), ['build', 'deps', 'final']);
    } finally {
      await writeFile(join(r.root, 'kiln.toml'), '');
    }
  });
});
