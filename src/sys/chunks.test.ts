import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { chunksOf } from './chunks.ts';

test('chunksOf hands over each chunk as pushed, never joined, however many wait', {
  timeout: 5000,
}, async () => {
  const source = new PassThrough();
  const pushed = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
  const it = chunksOf(source);
  const first = it.next();
  for (const b of pushed) source.write(b);
  source.end();
  const got: Buffer[] = [(await first).value as Buffer];
  // The reader was slow: the other two waited together, and still come one by one.
  await tick();
  for await (const c of it) got.push(c);
  assert.deepEqual(
    got.map((b) => b.toString()),
    ['one', 'two', 'three'],
  );
  for (let i = 0; i < pushed.length; i++) assert.equal(got[i], pushed[i], 'the same Buffer, not a copy');
});

test('chunksOf pauses the source while `limit` bytes wait and resumes it as they are taken', {
  timeout: 5000,
}, async () => {
  const source = new PassThrough();
  const it = chunksOf(source, 10);
  const first = it.next();
  source.write(Buffer.alloc(4));
  assert.equal((await first).value?.length, 4);
  source.write(Buffer.alloc(6));
  source.write(Buffer.alloc(6));
  await tick();
  assert.equal(source.isPaused(), true, 'paused with 12 bytes waiting against a limit of 10');
  await it.next();
  await it.next();
  assert.equal(source.isPaused(), false, 'flowing again once taken');
  source.end();
  assert.equal((await it.next()).done, true);
});

test('chunksOf fails with the source’s error, and with a close before the end', {
  timeout: 5000,
}, async () => {
  const failing = new PassThrough();
  const it = chunksOf(failing);
  const first = it.next();
  failing.write(Buffer.from('a'));
  assert.equal((await first).value?.toString(), 'a');
  failing.destroy(new Error('connection reset'));
  await assert.rejects(it.next(), /connection reset/);

  const cut = new PassThrough();
  const it2 = chunksOf(cut);
  const pending = it2.next();
  cut.destroy();
  await assert.rejects(pending, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
});

test('chunksOf destroys a source its reader stopped reading', { timeout: 5000 }, async () => {
  const source = new PassThrough();
  source.write(Buffer.from('a'));
  source.write(Buffer.from('b'));
  for await (const c of chunksOf(source)) {
    assert.equal(c.toString(), 'a');
    break;
  }
  assert.equal(source.destroyed, true);
  // A late error after the reader left goes nowhere (no unhandled 'error').
  source.emit('error', new Error('late'));
});
