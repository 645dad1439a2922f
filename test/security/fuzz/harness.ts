/**
 * The main side of the fuzz harness: runs a target's cases in a worker thread with a memory
 * limit, watches each case's time (a synchronous hang blocks the worker, not us), and restarts
 * the worker after the case that hung or ran out of memory. Deterministic: case i of a target
 * always gets the same seed, so `KILN_FUZZ_ONLY=target:i` replays one.
 */
import { Worker } from 'node:worker_threads';

export interface Failure {
  target: string;
  index: number;
  kind: string;
  error: string;
}

export interface TargetReport {
  target: string;
  cases: number;
  ms: number;
  /** Outcomes: `ok` and each KilnError code, with counts. */
  codes: Record<string, number>;
  failures: Failure[];
}

export interface RunOptions {
  seed: number;
  cases: number;
  /** Run only this case. */
  only?: number;
  caseTimeoutMs: number;
  memoryMb?: number;
}

/** Run cases of the target module at `module` (an absolute file URL or path). */
export async function runTarget(name: string, module: string, opts: RunOptions): Promise<TargetReport> {
  const started = Date.now();
  const report: TargetReport = { target: name, cases: 0, ms: 0, codes: {}, failures: [] };
  let from = opts.only ?? 0;
  const to = opts.only === undefined ? opts.cases : opts.only + 1;
  while (from < to) {
    const next = await new Promise<number>((resolve) => {
      const worker = new Worker(new URL('./worker.ts', import.meta.url), {
        workerData: { module, seed: opts.seed, from, to },
        resourceLimits: { maxOldGenerationSizeMb: opts.memoryMb ?? 768 },
        stderr: false,
      });
      let current = from;
      let since = Date.now();
      let settled = false;
      const finish = (resumeAt: number) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        resolve(resumeAt);
      };
      const watchdog = setInterval(() => {
        if (Date.now() - since <= opts.caseTimeoutMs) return;
        report.failures.push({
          target: name,
          index: current,
          kind: 'hang',
          error: `no progress for ${opts.caseTimeoutMs} ms`,
        });
        void worker.terminate();
        finish(current + 1);
      }, 100);
      worker.on(
        'message',
        (m: { type: string; index: number; kind?: string; error?: string; code?: string }) => {
          if (m.type === 'case') {
            current = m.index;
            since = Date.now();
            report.cases++;
          } else if (m.type === 'failure') {
            report.failures.push({ target: name, index: m.index, kind: m.kind ?? '?', error: m.error ?? '' });
          } else if (m.type === 'outcome') {
            const code = m.code ?? '?';
            report.codes[code] = (report.codes[code] ?? 0) + 1;
          } else if (m.type === 'done') {
            void worker.terminate();
            finish(to);
          }
        },
      );
      worker.on('error', (err) => {
        // ERR_WORKER_OUT_OF_MEMORY, or a crash outside any case.
        report.failures.push({ target: name, index: current, kind: 'worker died', error: String(err) });
        finish(current + 1);
      });
      worker.on('exit', () => finish(current + 1));
    });
    from = next;
  }
  report.ms = Date.now() - started;
  return report;
}
