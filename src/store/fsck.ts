/**
 * `kiln fsck`: every blob's bytes hash to its name, every named image's closure is present, no
 * stray files sit among the blobs, and the metadata DB passes SQLite's check. Temps left by dead
 * writers are removed (they are harmless debris, never blobs); live writers' temps are left alone.
 * So are the leftovers of a killed RUN (a mounted secrets tmpfs, a runc bundle): store/leftovers.ts.
 */
import { createReadStream } from 'node:fs';
import { type Digest, Digester, digestAlgorithm } from '../digest/digest.ts';
import { ClosureWalker, type MissingRef } from './closure.ts';
import { sweepLeftovers } from './leftovers.ts';
import type { Store } from './store.ts';

export interface FsckReport {
  sound: boolean;
  checkedBlobs: number;
  checkedBytes: number;
  /** Blobs whose content does not hash to their name. */
  corrupt: { digest: Digest; actual: Digest; path: string }[];
  /** Blobs a named image needs that are absent. */
  missing: (MissingRef & { image: string })[];
  /** Index entries that are absent (a platform-filtered pull): reported, not unsound. */
  partial: (MissingRef & { image: string })[];
  /** Files under blobs/ that are not named by a digest. */
  strays: string[];
  /** Ingest temps of dead writers, removed. */
  removedTemps: string[];
  /** Ingest temps of running writers, left alone. */
  activeTemps: string[];
  /** SQLite integrity problems, if any. */
  database: string[];
  /** Mounts, sockets, copies and bundles of killed kiln processes, removed. */
  removedLeftovers: string[];
  /** The same of running kiln processes, left alone. */
  activeLeftovers: string[];
}

async function hashFile(path: string, digest: Digest): Promise<Digest> {
  const d = new Digester(digestAlgorithm(digest));
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) d.update(chunk as Buffer);
  return d.digest();
}

export async function fsck(store: Pick<Store, 'content' | 'meta'> & { root?: string }): Promise<FsckReport> {
  const report: FsckReport = {
    sound: true,
    checkedBlobs: 0,
    checkedBytes: 0,
    corrupt: [],
    missing: [],
    partial: [],
    strays: [],
    removedTemps: [],
    activeTemps: [],
    database: [],
    removedLeftovers: [],
    activeLeftovers: [],
  };
  if (store.root !== undefined) {
    const left = await sweepLeftovers(store.root);
    report.removedLeftovers = left.removed;
    report.activeLeftovers = left.active;
  }
  report.removedTemps = (await store.content.cleanIngests()).map((t) => t.path);
  report.activeTemps = (await store.content.listIngests()).map((t) => t.path);
  for await (const b of store.content.list()) {
    const path = store.content.blobPath(b.digest);
    const actual = await hashFile(path, b.digest);
    report.checkedBlobs++;
    report.checkedBytes += b.size;
    if (actual !== b.digest) report.corrupt.push({ digest: b.digest, actual, path });
  }
  report.strays = await store.content.strayBlobFiles();
  const walker = new ClosureWalker(store.content);
  for (const img of store.meta.listImages()) {
    for (const m of walker.walk([img.target]).missing) {
      (m.optional ? report.partial : report.missing).push({ ...m, image: img.name });
    }
  }
  const check = store.meta.db.prepare('PRAGMA quick_check').all();
  for (const row of check) {
    const msg = String(Object.values(row)[0]);
    if (msg !== 'ok') report.database.push(msg);
  }
  report.sound =
    !report.corrupt.length && !report.missing.length && !report.strays.length && !report.database.length;
  return report;
}
