/** Choosing a snapshotter: overlay when root can mount it, and one driver per root directory. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../../../src/errors/errors.ts';
import { openSnapshotter } from '../../../src/store/snapshots.ts';

describe('openSnapshotter', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-open-'));
  });
  after(() => fs.rm(tmp, { recursive: true, force: true }));

  it('auto picks overlay as root, and a root keeps its driver', async () => {
    assert.equal(process.getuid?.(), 0, 'this test needs root');
    const root = path.join(tmp, 'a');
    assert.equal((await openSnapshotter(root)).driver, 'overlay');
    await assert.rejects(openSnapshotter(root, 'native'), (e) => hasCode(e, 'SNAPSHOTTER_MISMATCH'));
    assert.equal((await openSnapshotter(path.join(tmp, 'b'), 'native')).driver, 'native');
    // auto on a native root stays native rather than mixing drivers.
    assert.equal((await openSnapshotter(path.join(tmp, 'b'))).driver, 'native');
  });
});
