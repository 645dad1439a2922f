import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fsck } from '../../../src/store/fsck.ts';
import { openStore } from '../../../src/store/store.ts';

describe('crash safety', () => {
  it('SIGKILL mid-ingest leaves no blob under a wrong name and fsck reports the store sound', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-kill-'));
    try {
      const child = spawn(
        process.execPath,
        ['--no-warnings', join(import.meta.dirname, 'ingest-child.ts'), root],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('streaming\n')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`child exited early with ${code}: ${out}`)));
      });
      const temps = await readdir(join(root, 'ingest'));
      assert.equal(temps.length, 1, 'the ingest is in progress in a temp file');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.equal(child.signalCode, 'SIGKILL');

      const store = openStore(root);
      try {
        const committed = /committed (sha256:[a-f0-9]{64})/.exec(out)![1];
        const listed = [];
        for await (const b of store.content.list()) listed.push(b.digest);
        assert.deepEqual(listed, [committed], 'only the blob committed before the kill exists');
        const report = await fsck(store);
        assert.equal(report.sound, true);
        assert.equal(report.checkedBlobs, 1);
        assert.deepEqual(report.corrupt, []);
        assert.deepEqual(report.removedTemps, [join(root, 'ingest', temps[0])]);
        assert.deepEqual(await readdir(join(root, 'ingest')), []);
      } finally {
        store.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
