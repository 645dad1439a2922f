/**
 * Collecting a stream's dead Buffers early. A layer's tar and gzip chunks (1 MiB each) are
 * garbage as soon as the next stage has taken them, but V8 frees an ArrayBuffer only in a
 * collection, and while a stream moves bytes it allocates few JavaScript objects: no young
 * collection comes, and the dead chunks pile up until V8's external-memory trigger (~64 MiB
 * more) forces one — that pile was kiln's peak RSS on W1 (issue 20). A young-generation
 * collection every so many bytes frees them for ~1 ms. Only when node runs with --expose-gc
 * (bin/kiln does); elsewhere (tests run from source) it does nothing.
 */

type Gc = (options: { type: 'minor' | 'major' }) => void;
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
