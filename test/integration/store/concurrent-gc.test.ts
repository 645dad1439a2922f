import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fsck } from '../../../src/store/fsck.ts';
import { collectGarbage } from '../../../src/store/gc.ts';
import { openStore } from '../../../src/store/store.ts';

describe('GC against a concurrent writer', () => {
  it('GC running in a loop in another process never removes what an import is about to name', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-gcrace-'));
    const store = openStore(root);
    try {
      const count = 25;
      const child = spawn(
        process.execPath,
        ['--no-warnings', join(import.meta.dirname, 'import-child.ts'), root, String(count)],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      let running = true;
      const exited = new Promise<number | null>((r) =>
        child.on('exit', (code) => {
          running = false;
          r(code);
        }),
      );
      let rounds = 0;
      while (running) {
        await collectGarbage(store);
        rounds++;
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.equal(await exited, 0);
      assert.ok(rounds > 3, `GC ran ${rounds} times during the imports`);
      assert.equal((await store.images.list()).length, count);
      const report = await fsck(store);
      assert.deepEqual(report.missing, []);
      assert.equal(report.sound, true);
      assert.equal(report.checkedBlobs, count * 3);
    } finally {
      store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
