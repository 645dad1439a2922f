import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeferredSnapshotter } from './deferred.ts';
import { NativeSnapshotter } from './native/native.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-deferred-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A deferred native snapshotter at `name` under tmp, and how often it was opened. */
function deferred(name: string) {
  const root = join(tmp, name);
  const opens = { n: 0 };
  const sn = new DeferredSnapshotter(root, 'overlay', () => {
    opens.n++;
    return NativeSnapshotter.open(root);
  });
  return { root, sn, opens };
}

describe('a snapshotter opened on first use', () => {
  it('is not opened by its driver or a release, and its root is left as it was', async () => {
    const { root, sn, opens } = deferred('unused');
    assert.equal(sn.driver, 'overlay', 'the driver expected until it is opened');
    await sn.release();
    assert.equal(opens.n, 0);
    assert.equal(sn.isOpen, false);
    assert.throws(() => readdirSync(root), { code: 'ENOENT' });
  });

  it('opens once for calls made side by side, then says the driver it opened', async () => {
    const { sn, opens } = deferred('used');
    const [one, two] = await Promise.all([sn.list(), sn.list()]);
    assert.deepEqual([one, two], [[], []]);
    assert.equal(opens.n, 1);
    await sn.prepare('a');
    assert.equal(sn.driver, 'native');
    await sn.commit('b', 'a');
    assert.equal((await sn.stat('b')).kind, 'committed');
    assert.deepEqual(await sn.hold(['b', 'gone']), ['gone']);
    await sn.release();
    assert.equal(opens.n, 1);
  });
});
