/**
 * Collecting garbage where V8 would leave it resident. Both only when node runs with
 * --expose-gc (bin/kiln does); elsewhere (tests run from source) they do nothing.
 *
 * - A stream's dead Buffers: a layer's tar and gzip chunks (1 MiB each) are garbage as soon as
 *   the next stage has taken them, but V8 frees an ArrayBuffer only in a collection, and while a
 *   stream moves bytes it allocates few JavaScript objects: no young collection comes, and the
 *   dead chunks pile up until V8's external-memory trigger (~64 MiB more) forces one — that pile
 *   was kiln's peak RSS on W1 (issue 20). A young-generation collection every so many bytes
 *   frees them for ~1 ms (`YoungCollector`).
 * - A large step's dead heap (`releaseDeadHeap`): a COPY of 200,000 files ends with ~200 MiB of
 *   V8 heap, nearly all of it dead, and when the next piece of work (the layer export that
 *   starts as the COPY commits) allocates before V8 has collected, its heap grows on top of the
 *   dead one. Even collected, the freed pages stay resident: V8 pools them for reuse and gives
 *   them back only in a memory-reducing collection, which it runs when the process idles — a
 *   build rarely does. Measured at 200,000 files: peak RSS 497 MiB with ~200 MiB of pooled
 *   pages; a plain major collection leaves the pool (394 of 414 MiB stayed resident in a
 *   probe), a last-resort one returns it (60 MiB).
 */

type Gc = (options: {
  type: 'minor' | 'major';
  execution?: 'sync' | 'async';
  flavor?: 'regular' | 'last-resort';
}) => void;
const gc = (globalThis as { gc?: Gc }).gc;

/** Counts bytes handed on; every `every` bytes runs a young-generation collection. */
export class YoungCollector {
  private readonly every: number;
  private since = 0;

  constructor(every: number) {
    this.every = every;
  }

  add(bytes: number): void {
    if (!gc) return;
    this.since += bytes;
    if (this.since >= this.every) {
      this.since = 0;
      gc({ type: 'minor' });
    }
  }
}

/**
 * Resident size above which a finished step is followed by a last-resort collection. Far above
 * what ordinary builds reach (W1's 20,000 files peak at ~175 MiB), so they never pay for one;
 * it costs 45–140 ms when it runs, after steps that took seconds to grow that large.
 */
const LARGE_RSS = 256 << 20;
/** What a collection left resident: the next runs only when the process has grown well past it. */
let residentAfter = 0;

/**
 * Called when a step or a layer export has finished: if the process has grown large, collect
 * everything dead and hand V8's pooled pages back to the system. Grown means past LARGE_RSS and
 * half again past what the last such collection left (work still running keeps its memory, and
 * collecting again for it would buy nothing). Returns whether it collected.
 */
export function releaseDeadHeap(): boolean {
  if (!gc) return false;
  const rss = process.memoryUsage.rss();
  if (rss < Math.max(LARGE_RSS, residentAfter * 1.5)) return false;
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  residentAfter = process.memoryUsage.rss();
  return true;
}
