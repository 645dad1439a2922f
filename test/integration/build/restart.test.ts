/**
 * A build's step snapshots and unpacked base layers are committed without a sync
 * (snapshot/durability.ts). After a restart with no sync of theirs on record — a crash may have
 * half-written them — the next build unpacks the base again and runs those steps again, giving
 * the same files; a sync mark of that boot keeps them cached.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataStore } from '../../../src/snapshot/metadata.ts';
import { passedInEarlierBoot } from '../../../src/testing/reboot.ts';
import { buildContext, makeContext, openSuite, read, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('restart');
});
after(() => suite.close());

const EARLIER = '0e0e0e0e-1111-4222-8333-444455556666';
const RUNS = ['[2/3] RUN echo one > /one', '[3/3] RUN cat /one > /two'];

/**
 * Make every unsynced snapshot record look committed in an earlier boot (the steps' and the
 * unpacked base layer's); the latest time.
 */
async function restart(snapshots: string): Promise<number> {
  const meta = new MetadataStore(snapshots);
  let latest = 0;
  const records = await meta.list();
  assert.ok(
    records.some((r) => r.key.startsWith('layer-') && r.unsynced),
    'the unpacked base layer is marked unsynced too',
  );
  for (const rec of records) {
    if (!rec.unsynced) continue;
    latest = Math.max(latest, rec.unsynced.at);
    await meta.delete(rec.key);
    await meta.create({ ...rec, unsynced: { boot: EARLIER, at: rec.unsynced.at } });
  }
  await passedInEarlierBoot(snapshots, EARLIER);
  return latest;
}

describe('step snapshots after a restart', () => {
  let ctx: string;
  const snapshots = () => join(suite.root, 'snapshots');
  before(async () => {
    ctx = await makeContext(suite, {
      Dockerfile: 'FROM busybox\nRUN echo one > /one\nRUN cat /one > /two\n',
    });
  });

  it('run again when no sync of their boot followed them, and give the same files', async () => {
    const first = await buildContext(suite, ctx);
    for (const s of RUNS) assert.ok(first.started.includes(s), `${s} ran: ${first.started}`);
    const cached = await buildContext(suite, ctx);
    assert.deepEqual(cached.started, [], 'same boot: trusted');
    assert.ok((await restart(snapshots())) > 0, 'the steps were committed unsynced');
    const again = await buildContext(suite, ctx);
    for (const s of RUNS) assert.ok(again.started.includes(s), `${s} ran again: ${again.started}`);
    assert.equal(read(again.fs, 'two'), 'one\n');
  });

  it('stay cached when a sync of their boot started after them', async () => {
    const latest = await restart(snapshots());
    await mkdir(join(snapshots(), 'synced'), { recursive: true });
    await writeFile(join(snapshots(), 'synced', `${EARLIER}@${latest}`), '');
    const b = await buildContext(suite, ctx);
    assert.deepEqual(b.started, [], `nothing ran: ${b.started}`);
    assert.equal(read(b.fs, 'two'), 'one\n');
    assert.ok((await readdir(join(snapshots(), 'synced'))).includes(`${EARLIER}@${latest}`));
  });
});
