/**
 * Benchmark workloads, generated deterministically under a temp dir: W1 copies a large context
 * (20,000 small files plus 128 MiB of larger ones) and counts it; W2 runs two independent stages
 * (thousands of small files then `sleep 1`; 48 MiB from /dev/urandom) merged by COPY --from.
 */
import { createCipheriv } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Workload {
  name: 'W1' | 'W2';
  description: string;
  context: string;
  /** Make the one small change the incremental measurement rebuilds after (undefined: none). */
  touch?: (round: number) => void;
}

/** Deterministic bytes: AES-128-CTR keystream with a fixed key and a per-stream IV. */
function keystream(seed: number, size: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seed, 12);
  const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv);
  return c.update(Buffer.alloc(size));
}

const W1_DOCKERFILE = 'FROM busybox\nWORKDIR /app\nCOPY . .\nRUN find . -type f | wc -l\n';

export const W1_SMALL_FILES = 20_000;
export const W1_LARGE_BYTES = 128 << 20;

/**
 * W1; `smallFiles` (a multiple of 200) scales it for bench/scaling.ts: 200 files a directory, the
 * same sizes, the same 128 MiB of large files.
 */
export function makeW1(root: string, smallFiles = W1_SMALL_FILES): Workload {
  const ctx = join(root, 'w1');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), W1_DOCKERFILE);
  // 20,000 small files in 100 directories, 64..2111 bytes each.
  const pool = keystream(1, 4 << 20);
  const dirs = Math.max(1, Math.round(smallFiles / 200));
  let off = 0;
  for (let d = 0; d < dirs; d++) {
    const dir = join(ctx, 'src', `d${String(d).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 200; f++) {
      const size = 64 + ((d * 7919 + f * 104729) % 2048);
      if (off + size > pool.length) off = 0;
      writeFileSync(join(dir, `f${f}.txt`), pool.subarray(off, off + size));
      off += size;
    }
  }
  // 128 MiB in 16 files of 8 MiB, written in 1 MiB pieces.
  mkdirSync(join(ctx, 'assets'), { recursive: true });
  for (let i = 0; i < 16; i++) {
    const fd = openSync(join(ctx, 'assets', `blob${i}.bin`), 'w');
    const data = keystream(100 + i, W1_LARGE_BYTES / 16);
    for (let p = 0; p < data.length; p += 1 << 20) writeSync(fd, data, p, Math.min(1 << 20, data.length - p));
    closeSync(fd);
  }
  return {
    name: 'W1',
    description: 'COPY of 20,000 small files + 128 MiB, then RUN find | wc -l',
    context: ctx,
    touch: (round) =>
      appendFileSync(
        join(ctx, 'src', `d${String(dirs >> 1).padStart(3, '0')}`, 'f7.txt'),
        `changed ${round}\n`,
      ),
  };
}

const W2_DOCKERFILE = `FROM busybox AS small
RUN mkdir /small && cd /small && i=0; while [ $i -lt 5000 ]; do echo "file $i" > f$i; i=$((i+1)); done
RUN sleep 1
FROM busybox AS big
RUN dd if=/dev/urandom of=/big.bin bs=1048576 count=48 2>/dev/null
FROM busybox
COPY --from=small /small /small
COPY --from=big /big.bin /big.bin
`;

export function makeW2(root: string): Workload {
  const ctx = join(root, 'w2');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), W2_DOCKERFILE);
  return {
    name: 'W2',
    description: 'two stages (5,000 files + sleep 1; 48 MiB urandom) merged by COPY --from',
    context: ctx,
  };
}
