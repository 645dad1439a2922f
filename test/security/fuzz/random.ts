/**
 * Deterministic randomness for the fuzz targets: a seeded PRNG (mulberry32) with the picks the
 * generators need, and byte-level mutations of a seed input (flips, splices, repeats, cuts).
 */

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Mostly small, sometimes large: sizes and counts that reach the edges. */
  size(max: number): number {
    const r = this.next();
    if (r < 0.6) return this.int(Math.min(max, 16) + 1);
    if (r < 0.9) return this.int(Math.min(max, 4096) + 1);
    return this.int(max + 1);
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  string(n: number, alphabet: string): string {
    const chars = Array.from(alphabet);
    let s = '';
    for (let i = 0; i < n; i++) s += this.pick(chars);
    return s;
  }
}

/** The seed of case `index` of a run seeded `seed` (a stable mix, so cases are independent). */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** `input` with 1–8 random edits; `interesting` are byte strings worth inserting. */
export function mutate(rng: Rng, input: Buffer, interesting: readonly Buffer[] = []): Buffer {
  let b = Buffer.from(input);
  for (let n = 1 + rng.int(8); n > 0; n--) {
    const at = rng.int(b.length + 1);
    switch (rng.int(7)) {
      case 0: // flip a bit
        if (b.length) b[Math.min(at, b.length - 1)]! ^= 1 << rng.int(8);
        break;
      case 1: // set a byte
        if (b.length)
          b[Math.min(at, b.length - 1)] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x0a, rng.int(256)]);
        break;
      case 2: // insert something interesting
        b = Buffer.concat([
          b.subarray(0, at),
          interesting.length ? rng.pick(interesting) : rng.bytes(rng.size(16)),
          b.subarray(at),
        ]);
        break;
      case 3: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.size(64)))]);
        break;
      case 4: {
        // repeat a slice
        const len = rng.size(64);
        const slice = b.subarray(at, at + len);
        b = Buffer.concat([
          b.subarray(0, at),
          ...Array(1 + rng.int(rng.chance(0.1) ? 200 : 4)).fill(slice),
          b.subarray(at),
        ]);
        break;
      }
      case 5: // cut the end
        b = b.subarray(0, at);
        break;
      default: {
        // copy a slice over another place
        const from = rng.int(b.length + 1);
        const len = rng.size(32);
        b.set(b.subarray(from, from + len).subarray(0, Math.max(0, b.length - at)), Math.min(at, b.length));
      }
    }
  }
  return b;
}
