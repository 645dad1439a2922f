/**
 * Layer export overlaps the build: a layer of the result is written as soon as its step
 * commits, while later steps still run; layers of other stages are never exported.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProgressEvent, StatusEvent, VertexEvent } from '../../../src/progress/events.ts';
import { buildDockerfile, buildError, openSuite, type Suite } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('export');
});
after(() => suite.close());

const exports = (events: ProgressEvent[]) =>
  events.filter((e): e is StatusEvent => e.type === 'status' && e.name.startsWith('exporting layer'));

const doneAt = (events: ProgressEvent[], name: string) => {
  const e = events.find(
    (v): v is VertexEvent => v.type === 'vertex' && v.status === 'done' && v.name.includes(name),
  );
  assert.ok(e, `${name} finished`);
  return e.at;
};

describe('layer export during the build', () => {
  it("exports a step's layer before the steps after it have finished", async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox\nCOPY data.bin /data.bin\nRUN sleep 2 && echo slept > /slept\n',
      { 'data.bin': Buffer.alloc(4 << 20, 'k') },
      { noLocal: true },
    );
    const ex = exports(b.events);
    assert.equal(ex.length, 2, 'the COPY and RUN layers, each exported once');
    assert.ok(ex[0].at < doneAt(b.events, 'RUN sleep 2'), 'the COPY layer was written while RUN ran');
    const built = b.image.manifest.layers.slice(-2);
    assert.deepEqual(
      built.map((l) => l.digest),
      b.image.config.rootfs.diff_ids.slice(-2),
    );
  });

  it('never exports the layers of stages the result only copies from', async () => {
    const b = await buildDockerfile(
      suite,
      'FROM busybox AS side\nRUN echo side > /side && echo more > /more\nFROM busybox\nCOPY --from=side /side /side\n',
      {},
      { noLocal: true },
    );
    assert.equal(exports(b.events).length, 1, 'only the final COPY layer');
  });

  it('a build that fails while a layer is written leaves no half-written blob when it returns', async () => {
    // The COPY's 48 MiB of random bytes take seconds to compress; the RUN after it fails at once.
    const err = await buildError(suite, 'FROM busybox\nCOPY noise.bin /noise.bin\nRUN exit 3\n', {
      'noise.bin': randomBytes(48 << 20),
    });
    assert.equal(err.code, 'EXEC_FAILED');
    const ingest = join(suite.root, 'ingest');
    const left = existsSync(ingest) ? readdirSync(ingest) : [];
    assert.deepEqual(left, [], 'a blob was still being written after the build had failed');
  });
});
