import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLimited, Semaphore } from './limit.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('the concurrency limiter', () => {
  it('runLimited keeps at most `limit` in flight and runs every item', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await runLimited([...Array(20).keys()], 3, async (i) => {
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
      done.push(i);
    });
    assert.equal(most, 3);
    assert.deepEqual(
      done.sort((a, b) => a - b),
      [...Array(20).keys()],
    );
  });

  it('runLimited stops at the first failure and throws it once the running ones settled', async () => {
    let running = 0;
    const started: number[] = [];
    await assert.rejects(
      runLimited([...Array(20).keys()], 4, async (i) => {
        started.push(i);
        running++;
        await tick();
        running--;
        if (i === 2) throw new Error('item 2');
      }),
      /item 2/,
    );
    assert.equal(running, 0);
    assert.ok(started.length < 20);
  });

  it('Semaphore bounds calls that arrive over time', async () => {
    const s = new Semaphore(2);
    let running = 0;
    let most = 0;
    await Promise.all(
      [...Array(10).keys()].map(() =>
        s.use(async () => {
          running++;
          most = Math.max(most, running);
          await tick();
          running--;
        }),
      ),
    );
    assert.equal(most, 2);
  });
});
