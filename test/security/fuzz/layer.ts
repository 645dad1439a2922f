/**
 * Fuzz target: layer blobs (random and mutated tars, plain, gzip or zstd, the compressed bytes
 * sometimes damaged) applied with the real layer apply code into a scratch directory. Besides
 * "KilnErrors only", every case checks that nothing outside the target changed: a sentinel
 * directory beside it stays byte-identical and nothing appears next to the target.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { applyLayer } from '../../../src/archive/apply.ts';
import { KilnError } from '../../../src/errors/errors.ts';
import { mutate, type Rng } from './random.ts';
import { randomTar } from './tar.ts';
import type { FuzzTarget } from './target.ts';

interface Scratch {
  dir: string;
  /** Parent of the target: holds nothing but it. */
  root: string;
  target: string;
  sentinel: string;
  sentinelHash: string;
}

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      h.update(
        `${d}/${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : e.isFile() ? 'f' : 'o'}\n`,
      );
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) h.update(readFileSync(join(d, e.name)));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Split `b` into chunks of random sizes (the reader must not depend on chunking). */
function chunks(rng: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; ) {
    const n = 1 + rng.size(70_000);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

export const target: FuzzTarget<Scratch> = {
  name: 'layer',
  caseTimeoutMs: 20_000,
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-fuzz-layer-'));
    const root = join(dir, 'root');
    const sentinel = join(dir, 'sentinel');
    mkdirSync(root);
    mkdirSync(join(sentinel, 'sub'), { recursive: true });
    writeFileSync(join(sentinel, 'secret'), 'HOST SECRET\n');
    writeFileSync(join(sentinel, 'sub', 'data'), 'data\n');
    return { dir, root, target: join(root, 'target'), sentinel, sentinelHash: treeHash(sentinel) };
  },
  async teardown(s) {
    rmSync(s.dir, { recursive: true, force: true });
  },
  async run(rng, s) {
    rmSync(s.target, { recursive: true, force: true });
    mkdirSync(s.target);
    let blob = randomTar(rng, s.sentinel);
    const compression = rng.pick(['none', 'gzip', 'gzip', 'zstd'] as const);
    if (compression === 'gzip') blob = gzipSync(blob, { level: 1 });
    if (compression === 'zstd') blob = zstdCompressSync(blob);
    if (compression !== 'none' && rng.chance(0.2))
      blob = rng.chance(0.5) ? blob.subarray(0, rng.int(blob.length)) : mutate(rng, blob);
    try {
      await applyLayer(Readable.from(chunks(rng, blob)), s.target, {
        whiteouts: rng.pick(['delete', 'overlay', 'none'] as const),
        devices: rng.pick(['create', 'skip'] as const),
      });
    } catch (err) {
      // Every failure is a KilnError (the worker checks) that speaks of the layer's entries, not
      // of the host paths they were written to.
      if (err instanceof KilnError) {
        assert.ok(!err.message.includes(s.target), `the message shows a host path: ${err.message}`);
      }
      throw err;
    } finally {
      // Whatever happened, nothing outside the target may have changed.
      assert.equal(treeHash(s.sentinel), s.sentinelHash, 'the sentinel beside the target changed');
      assert.deepEqual(readdirSync(s.root), ['target'], 'something was created beside the target');
      assert.deepEqual(
        readdirSync(s.dir).sort(),
        ['root', 'sentinel'],
        'something was created in the scratch dir',
      );
    }
  },
};
