/**
 * Running a copy off the main thread: copy() does its filesystem work synchronously (fastest for
 * many small files), which would stall progress rendering and the solver's other branches, so
 * the solver can call copyInWorker() instead. Errors come back as KilnErrors with their code.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { KilnError } from '../errors/errors.ts';
import { type CopyOptions, copy } from './copy.ts';

interface WorkerError {
  code?: string;
  message: string;
  hint?: string;
}

/** copy() in a worker thread; resolves when the copy is complete. */
export function copyInWorker(opts: CopyOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: opts });
    let settled = false;
    w.once('message', (m: { ok: true } | { ok: false; error: WorkerError }) => {
      settled = true;
      if (m.ok) resolve();
      else reject(new KilnError(m.error.code ?? 'FILEOP_FAILED', m.error.message, { hint: m.error.hint }));
    });
    w.once('error', (e) => {
      settled = true;
      reject(e);
    });
    w.once('exit', (code) => {
      if (!settled) reject(new KilnError('FILEOP_WORKER_EXITED', `copy worker exited with code ${code}`));
    });
  });
}

if (!isMainThread && parentPort && (workerData as CopyOptions | undefined)?.srcRoot !== undefined) {
  const port = parentPort;
  copy(workerData as CopyOptions).then(
    () => port.postMessage({ ok: true }),
    (e: Error & { code?: string; hint?: string }) =>
      port.postMessage({ ok: false, error: { code: e.code, message: e.message, hint: e.hint } }),
  );
}
