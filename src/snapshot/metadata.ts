/**
 * Snapshot metadata on disk: one JSON file per snapshot under `<root>/metadata`, created with
 * link(2) (so two creators of one key cannot both win) and updated by temp file + rename, so a
 * crash never leaves a half-written record. Active snapshots record their owning process so
 * that the next open can remove the leftovers of a killed build.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';
import type { Owner } from '../sys/owner.ts';
import type { Unsynced } from './durability.ts';
import type { SnapshotInfo, SnapshotKind } from './snapshotter.ts';

/** Temp files older than this are crash leftovers; younger ones may be in flight. */
const STALE_TEMP_MS = 10 * 60 * 1000;

export interface SnapshotRecord {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  /** Short directory name under `<root>/snapshots`; short names keep overlay options short. */
  id: string;
  created: string;
  labels: Record<string, string>;
  /** Process that created an active snapshot or view: pid and its start time in clock ticks. */
  owner?: Owner;
  /** An active snapshot mounted `volatile` (overlay): its writes are not synced at unmount. */
  volatile?: boolean;
  /** A committed snapshot kiln did not sync: when and in which boot (see durability.ts). */
  unsynced?: Unsynced;
  /** What a committed snapshot is the latest result of (SnapshotOptions.lineage). */
  lineage?: string;
}

export class MetadataStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'metadata');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  // Records are read synchronously: a few hundred bytes each, and every build opens the
  // snapshotter by listing them all; one thread-pool round trip per record made that ~0.5 ms a
  // snapshot, the better part of a fully cached build in a store of a few dozen.
  async get(key: string): Promise<SnapshotRecord | undefined> {
    return this.getSync(key);
  }

  /** get(), for code that runs under a lock and must not yield. */
  getSync(key: string): SnapshotRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(key), 'utf8')) as SnapshotRecord;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async mustGet(key: string): Promise<SnapshotRecord> {
    const rec = await this.get(key);
    if (!rec) {
      throw new KilnError('SNAPSHOT_NOT_FOUND', `snapshot "${key}" does not exist`, {
        hint: 'It was never created, or it was removed or committed under another name.',
      });
    }
    return rec;
  }

  /** Create a record; throws SNAPSHOT_EXISTS when the key is taken. */
  async create(rec: SnapshotRecord): Promise<void> {
    const tmp = await this.writeTemp(rec);
    try {
      await fs.link(tmp, this.file(rec.key));
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        throw new KilnError('SNAPSHOT_EXISTS', `snapshot "${rec.key}" already exists`, {
          hint: 'Use a fresh key, or remove the existing snapshot first.',
        });
      }
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    this.deleteSync(key);
  }

  deleteSync(key: string): void {
    rmSync(this.file(key), { force: true });
  }

  async list(): Promise<SnapshotRecord[]> {
    const out: SnapshotRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      const p = `${this.dir}/${name}`;
      if (!name.endsWith('.json')) {
        // A temp file left by a crash between write and link/rename. A young one may be a
        // concurrent create() between its write and its link (another platform of the same
        // build, or another process): removing it made that create fail with ENOENT.
        if (name.startsWith('.tmp-')) {
          const st = await fs.stat(p).catch(() => undefined);
          if (st && Date.now() - st.mtimeMs > STALE_TEMP_MS) await fs.rm(p, { force: true });
        }
        continue;
      }
      try {
        out.push(JSON.parse(readFileSync(p, 'utf8')) as SnapshotRecord);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return out;
  }

  private async writeTemp(rec: SnapshotRecord): Promise<string> {
    const tmp = path.join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(rec));
      await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }
}

export function toInfo(rec: SnapshotRecord): SnapshotInfo {
  const info: SnapshotInfo = {
    key: rec.key,
    kind: rec.kind,
    created: rec.created,
    labels: { ...rec.labels },
  };
  if (rec.parent !== undefined) info.parent = rec.parent;
  return info;
}
