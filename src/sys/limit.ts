/**
 * The one concurrency limiter, in its two shapes: `Semaphore` bounds calls that arrive over time
 * (the solver's jobs, layer exports), `runLimited` runs a known list with at most `limit` in
 * flight (blob copies, a COPY's files) on that many workers, without a promise per item.
 */

/** A counting semaphore bounding how many calls of `use` run at once. */
export class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];

  constructor(count: number) {
    this.available = count;
  }

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    }
  }
}

/**
 * Run `fn` on every item with at most `limit` in flight, in order. The first failure stops new
 * items and is thrown once the running ones have settled, so nothing is still writing when the
 * caller sees it.
 */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
}
