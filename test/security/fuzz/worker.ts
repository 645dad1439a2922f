/**
 * The worker side of the fuzz harness: runs cases [from, to) of one target, announcing each
 * before it starts (so the watchdog in harness.ts knows which one hung or ran out of memory) and
 * reporting every outcome that is not "returned" or "a KilnError with a code".
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../../../src/errors/errors.ts';
import { caseSeed, Rng } from './random.ts';
import type { FuzzTarget } from './target.ts';

interface Job {
  module: string;
  seed: number;
  from: number;
  to: number;
}

const job = workerData as Job;
const port = parentPort!;
let current = -1;

function describe(err: unknown): string {
  if (err instanceof Error)
    return `${err.name}: ${err.message}\n${(err.stack ?? '').split('\n').slice(1, 8).join('\n')}`;
  return String(err);
}

// An 'error' event nobody listens to, or a rejection nobody handles, is a failure of the case
// that was running (the crashes this harness is here to find).
process.on('uncaughtException', (err) =>
  port.postMessage({ type: 'failure', index: current, kind: 'uncaught', error: describe(err) }),
);
process.on('unhandledRejection', (err) =>
  port.postMessage({ type: 'failure', index: current, kind: 'unhandled rejection', error: describe(err) }),
);

const { target } = (await import(job.module)) as { target: FuzzTarget };
const ctx = await target.setup?.();
for (let i = job.from; i < job.to; i++) {
  current = i;
  port.postMessage({ type: 'case', index: i });
  try {
    await target.run(new Rng(caseSeed(job.seed, i)), ctx);
    port.postMessage({ type: 'outcome', code: 'ok' });
  } catch (err) {
    if (err instanceof KilnError && typeof err.code === 'string' && err.code.length > 0) {
      port.postMessage({ type: 'outcome', code: err.code });
    } else {
      port.postMessage({ type: 'failure', index: i, kind: 'not a KilnError', error: describe(err) });
    }
  }
}
current = -1;
await target.teardown?.(ctx);
port.postMessage({ type: 'done' });
