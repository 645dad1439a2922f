/**
 * The part of a snapshotter both drivers share: keys, parent chains, metadata, directory
 * allocation, holds and guarded removal, stale-state cleanup on open, and withMounted. A driver
 * supplies how a snapshot's directory is filled, what to mount, and how layers are diffed and applied.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { LayerEntries } from '../archive/tree-entries.ts';
import { isErrno, KilnError } from '../errors/errors.ts';
import { lstat, readdir } from '../sys/fs.ts';
import { HoldFiles } from '../sys/holds.ts';
import { ownedName, ownerDead, ownerOfName, selfOwner } from '../sys/owner.ts';
import { isoTime } from '../sys/time.ts';
import { pruneMarks, readMarks, startSync, trusted, unsyncedNow } from './durability.ts';
import { SnapshotLock } from './lock.ts';
import { MetadataStore, type SnapshotRecord, toInfo } from './metadata.ts';
import { isMountPoint, mountAll, unmount } from './mount.ts';
import type {
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from './snapshotter.ts';
import { Writers } from './writers.ts';

/** Label applyLayerAsSnapshot sets on the snapshot: the sha256 of the uncompressed layer tar. */
export const DIFF_ID_LABEL = 'kiln.diff-id';

/** Snapshot directories younger than this without a record may belong to a prepare in flight elsewhere. */
const ORPHAN_AGE_MS = 60_000;

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly driver: string;
  readonly root: string;
  protected readonly meta: MetadataStore;
  protected readonly snapshotsDir: string;
  private readonly mountsDir: string;
  /** Every snapshotter's holds, one file per open snapshotter (see hold()). */
  private readonly holds: HoldFiles;
  /** Taken by removals of committed snapshots and by hold checks, in every process. */
  private readonly lock: SnapshotLock;
  /** This snapshotter's hold scope. */
  private readonly scope = randomBytes(8).toString('hex');
  /** The sync marks (durability.ts). */
  private readonly marksDir: string;
  /** Whether this snapshotter committed a snapshot it did not sync (release() then starts a sync). */
  private committedUnsynced = false;
  /** The processes that may have left the store unfinished (writers.ts); this one once it changes it. */
  private readonly writers: Writers;
  /** Active snapshots and views this snapshotter made and has not committed or removed. */
  private readonly unfinished = new Set<string>();
  /** Directories of commits here that made the committed record but kept the active one (an error between). */
  private readonly halfCommitted = new Set<string>();

  protected constructor(root: string) {
    this.root = path.resolve(root);
    this.meta = new MetadataStore(this.root);
    this.snapshotsDir = path.join(this.root, 'snapshots');
    this.mountsDir = path.join(this.root, 'mounts');
    this.holds = new HoldFiles(path.join(this.root, 'holds'));
    this.lock = new SnapshotLock(path.join(this.root, 'lock.db'));
    this.writers = new Writers(path.join(this.root, 'writers'));
    this.marksDir = path.join(this.root, 'synced');
  }

  /** Fill a new snapshot directory `dir` (already created) for a snapshot over `parents`. */
  protected abstract populate(dir: string, parents: SnapshotRecord[], kind: SnapshotKind): Promise<void>;
  /** What to mount for `rec` whose parent chain (nearest first) is `parents`. */
  protected abstract mountsFor(rec: SnapshotRecord, parents: SnapshotRecord[]): Mount[];
  protected abstract diffOf(rec: SnapshotRecord, parents: SnapshotRecord[]): Promise<LayerEntries>;
  /** Unpack `layer` into the freshly prepared active snapshot `rec`. */
  protected abstract applyInto(
    rec: SnapshotRecord,
    parents: SnapshotRecord[],
    layer: Readable,
  ): Promise<string>;

  /** Create the directories and remove what a killed process left behind. */
  protected async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    await this.meta.init();
    await fs.mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.mountsDir, { recursive: true, mode: 0o700 });
    await this.cleanupStale();
  }

  /** Record which driver owns `root` (after it proved it works); a root never changes drivers. */
  protected async claimRoot(): Promise<void> {
    const file = path.join(this.root, 'driver');
    // Written by temp + rename: a concurrent opener must never read a half-written (empty)
    // file, which made a second kiln process fail with "holds overlay snapshots, not native".
    const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (existing === undefined) {
      const tmp = `${file}.${randomBytes(4).toString('hex')}`;
      await fs.writeFile(tmp, this.driver);
      await fs.rename(tmp, file);
    } else if (existing.trim() !== this.driver) {
      throw new KilnError(
        'SNAPSHOTTER_MISMATCH',
        `${this.root} holds ${existing.trim()} snapshots, not ${this.driver}`,
        {
          hint: 'Use a separate root directory per snapshotter driver.',
        },
      );
    }
  }

  protected snapshotDir(id: string): string {
    return path.join(this.snapshotsDir, id);
  }

  /** The directory holding a snapshot's files (the overlay upper dir, or the full copy). */
  protected fsDir(id: string): string {
    return path.join(this.snapshotsDir, id, 'fs');
  }

  /** Drivers whose snapshot directories hold only their own layer (overlay) say so. */
  protected readonly layered: boolean = false;

  async ownDir(key: string): Promise<string | undefined> {
    return this.layered ? this.fsDir((await this.meta.mustGet(key)).id) : undefined;
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(await this.meta.mustGet(key));
  }

  async hold(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    this.holds.add(this.scope, keys);
    // Checked after the hold is written and under the lock removals take: a removal either read
    // the holds after ours was written (and skips the snapshot), or finished before this check.
    return this.lock.run(() => keys.filter((k) => this.meta.getSync(k)?.kind !== 'committed'));
  }

  async release(): Promise<void> {
    this.holds.release(this.scope);
    this.lock.close();
    if (this.committedUnsynced) {
      this.committedUnsynced = false;
      await startSync(this.root, this.marksDir).catch(() => undefined);
    }
    // An active snapshot still here is left for the pass that follows this process's end.
    if (this.unfinished.size === 0) this.writers.leave();
  }

  async list(): Promise<SnapshotInfo[]> {
    return (await this.meta.list()).map(toInfo).sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * One file per lineage in `latest/`, naming the snapshot committed last under it: written at
   * the commit (temp file and rename), taken away when that snapshot is removed. Not synced: a
   * name lost or left pointing at a snapshot gone only means no earlier result is found.
   */
  private latestFile(lineage: string): string {
    return path.join(this.root, 'latest', createHash('sha256').update(lineage).digest('hex'));
  }

  async latest(lineage: string): Promise<SnapshotInfo | undefined> {
    let key: string;
    try {
      key = readFileSync(this.latestFile(lineage), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const rec = this.meta.getSync(key);
    return rec?.kind === 'committed' && rec.lineage === lineage ? toInfo(rec) : undefined;
  }

  private pointLatest(lineage: string, key: string): void {
    const file = this.latestFile(lineage);
    // Named for this process: the pass after its death removes one it left (cleanupStale).
    const tmp = `${file}.${ownedName()}.tmp`;
    try {
      writeFileSync(tmp, key, { mode: 0o600 });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, key, { mode: 0o600 });
    }
    renameSync(tmp, file);
  }

  private unpointLatest(lineage: string, key: string): void {
    const file = this.latestFile(lineage);
    let named: string | undefined;
    try {
      named = readFileSync(file, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    // A commit elsewhere between the read and the removal loses its name: no reuse, once.
    if (named === key) rmSync(file, { force: true });
  }

  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create('active', key, parent, opts);
  }

  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create('view', key, parent, opts);
  }

  private async create(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    opts?: SnapshotOptions,
  ): Promise<Mount[]> {
    if (!key) throw new KilnError('SNAPSHOT_INVALID_KEY', 'snapshot key must not be empty');
    if (await this.meta.get(key)) {
      throw new KilnError('SNAPSHOT_EXISTS', `snapshot "${key}" already exists`, {
        hint: 'Use a fresh key.',
      });
    }
    // The parent (and so its chain) stays while this snapshotter is open, whoever made it.
    if (parent !== undefined) await this.hold([parent]);
    const parents = parent === undefined ? [] : await this.chain(parent);
    if (parents[0] && parents[0].kind !== 'committed') {
      throw new KilnError(
        'SNAPSHOT_PARENT_NOT_COMMITTED',
        `parent "${parent}" of "${key}" is ${parents[0].kind}, not committed`,
        {
          hint: 'Commit the parent snapshot before preparing children on it.',
        },
      );
    }
    this.writers.enter();
    const id = await this.allocateDir();
    const rec: SnapshotRecord = {
      key,
      kind,
      id,
      created: isoTime(),
      labels: { ...opts?.labels },
      owner: selfOwner(),
    };
    if (parent !== undefined) rec.parent = parent;
    if (kind === 'active' && opts?.volatile) rec.volatile = true;
    try {
      await this.populate(this.snapshotDir(id), parents, kind);
      await this.meta.create(rec);
      this.unfinished.add(key);
    } catch (err) {
      await fs.rm(this.snapshotDir(id), { recursive: true, force: true });
      throw err;
    }
    return this.mountsFor(rec, parents);
  }

  /** Pick a fresh short directory name; mkdir without `recursive` makes the claim exclusive. */
  private async allocateDir(): Promise<string> {
    for (;;) {
      const id = randomBytes(3).toString('hex');
      try {
        await fs.mkdir(this.snapshotDir(id), { mode: 0o700 });
        return id;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
    }
  }

  /** The record for `key` followed by its ancestors, nearest first. */
  protected async chain(key: string): Promise<SnapshotRecord[]> {
    const out: SnapshotRecord[] = [];
    let next: string | undefined = key;
    while (next !== undefined) {
      const rec = await this.meta.mustGet(next);
      out.push(rec);
      next = rec.parent;
      if (out.length > 10_000) throw new KilnError('SNAPSHOT_CORRUPT', `parent chain of "${key}" loops`);
    }
    return out;
  }

  async mounts(key: string): Promise<Mount[]> {
    const [rec, ...parents] = await this.chain(key);
    if (rec.kind === 'committed') {
      throw new KilnError('SNAPSHOT_NOT_MOUNTABLE', `snapshot "${key}" is committed and cannot be mounted`, {
        hint: 'Mount a view of it instead: view(newKey, parent).',
      });
    }
    // A volatile overlay leaves a marker in its work dir that refuses every later mount of it
    // (the kernel cannot tell a crash from an unmount). This process made the snapshot in this
    // boot, so nothing was lost: the marker goes and the snapshot can be mounted again.
    const me = selfOwner();
    if (rec.volatile && rec.owner?.pid === me.pid && rec.owner.start === me.start) {
      await fs.rm(path.join(this.snapshotDir(rec.id), 'work', 'work', 'incompat', 'volatile'), {
        recursive: true,
        force: true,
      });
    }
    return this.mountsFor(rec, parents);
  }

  async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    const rec = await this.meta.mustGet(key);
    if (rec.kind !== 'active') {
      throw new KilnError(
        'SNAPSHOT_NOT_ACTIVE',
        `snapshot "${key}" is ${rec.kind}; only active snapshots can be committed`,
      );
    }
    const committed: SnapshotRecord = {
      key: name,
      kind: 'committed',
      id: rec.id,
      created: isoTime(),
      labels: { ...rec.labels, ...opts?.labels },
    };
    if (rec.parent !== undefined) committed.parent = rec.parent;
    if (opts?.lineage) committed.lineage = opts.lineage;
    if (rec.volatile) {
      committed.unsynced = unsyncedNow();
      this.committedUnsynced = true;
    }
    this.writers.enter();
    // Overlay's work dir is only needed while the snapshot is writable.
    await fs.rm(path.join(this.snapshotDir(rec.id), 'work'), { recursive: true, force: true });
    // Held before it exists: no removal ever sees it unheld while this snapshotter is open.
    this.holds.add(this.scope, [name]);
    await this.meta.create(committed);
    try {
      await this.meta.delete(key);
    } catch (err) {
      this.halfCommitted.add(rec.id);
      throw err;
    }
    this.unfinished.delete(key);
    if (committed.lineage) this.pointLatest(committed.lineage, name);
  }

  async remove(key: string): Promise<void> {
    // This snapshotter is done with it; another one's hold still stops the removal.
    this.holds.drop(this.scope, [key]);
    const rec = await this.meta.mustGet(key);
    const me = selfOwner();
    if (rec.owner && (rec.owner.pid !== me.pid || rec.owner.start !== me.start) && !ownerDead(rec.owner)) {
      throw new KilnError(
        'SNAPSHOT_IN_USE',
        `snapshot "${key}" belongs to running process ${rec.owner.pid}`,
        {
          hint: 'It goes when that process ends, or with the next open after it is killed.',
        },
      );
    }
    // This snapshotter's own active snapshot or view (most removals: a build's views and failed
    // steps) is nobody's parent — prepare and view refuse one — and shares its directory only
    // after a commit of it failed halfway here. Anything else: every record is read.
    const own = rec.kind !== 'committed' && this.unfinished.has(key);
    const all = own ? [] : await this.meta.list();
    const child = all.find((r) => r.parent === key);
    if (child) {
      throw new KilnError('SNAPSHOT_IN_USE', `snapshot "${key}" is the parent of "${child.key}"`, {
        hint: 'Remove its children first.',
      });
    }
    this.writers.enter();
    this.lock.run(() => {
      if (this.holds.live().has(key)) {
        throw new KilnError('SNAPSHOT_IN_USE', `snapshot "${key}" is in use by a running build`, {
          hint: 'It can be removed once that build ends.',
        });
      }
      this.meta.deleteSync(key);
    });
    if (rec.lineage) this.unpointLatest(rec.lineage, key);
    // Commit interrupted by a crash can leave two records on one directory; keep it while shared.
    const shared = own ? this.halfCommitted.has(rec.id) : all.some((r) => r.key !== key && r.id === rec.id);
    if (!shared) {
      await fs.rm(this.snapshotDir(rec.id), { recursive: true, force: true });
    }
    this.unfinished.delete(key);
  }

  async usage(key: string): Promise<Usage> {
    const rec = await this.meta.mustGet(key);
    const seen = new Set<string>();
    const usage: Usage = { size: 0, inodes: 0 };
    const walk = async (p: string): Promise<void> => {
      // Names in a snapshot are the image's: bytes (sys/fs.ts).
      const st = await lstat(p);
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) return;
      seen.add(id);
      usage.inodes++;
      // Count allocated blocks, as du does, so sparse files are not overcounted.
      usage.size += Math.min(st.size, st.blocks * 512);
      if (st.isDirectory()) for (const name of await readdir(p)) await walk(path.join(p, name));
    };
    await walk(this.fsDir(rec.id));
    return usage;
  }

  async withMounted<T>(key: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const mounts = await this.mounts(key);
    // A single bind mount needs no mount at all: the directory is the snapshot.
    if (mounts.length === 1 && mounts[0].type === 'bind') return fn(mounts[0].source);
    // The name carries the owner, so another process's cleanup leaves this live mount alone.
    const target = path.join(this.mountsDir, ownedName());
    await fs.mkdir(target, { mode: 0o700 });
    try {
      await mountAll(mounts, target);
      try {
        return await fn(target);
      } finally {
        await unmount(target);
      }
    } finally {
      await fs.rmdir(target).catch(() => undefined);
    }
  }

  async diff(key: string): Promise<LayerEntries> {
    const [rec, ...parents] = await this.chain(key);
    return this.diffOf(rec, parents);
  }

  async applyLayerAsSnapshot(
    parent: string | undefined,
    layer: Readable,
    key: string,
  ): Promise<SnapshotInfo> {
    const tmpKey = `extract-${randomBytes(8).toString('hex')} ${key}`;
    // Unpacked here and committed below, never synced: marked so, like a build step's.
    await this.prepare(tmpKey, parent, { volatile: true });
    try {
      const [rec, ...parents] = await this.chain(tmpKey);
      const diffID = await this.applyInto(rec, parents, layer);
      await this.commit(key, tmpKey, { labels: { [DIFF_ID_LABEL]: diffID } });
    } catch (err) {
      await this.remove(tmpKey).catch(() => undefined);
      throw err;
    }
    return this.stat(key);
  }

  /**
   * Drop the committed snapshots an earlier boot left unsynced with no sync after them (a crash
   * may have half-written their files), and their committed descendants; the records that stay.
   * A chain under a snapshot kiln did not mark (an active one, or one committed another way: a
   * working container's anchor and commits) stays whole: those are the user's, and were trusted
   * across restarts before.
   */
  private async dropUnsynced(records: SnapshotRecord[]): Promise<SnapshotRecord[]> {
    const marks = await readMarks(this.marksDir);
    const byKey = new Map(records.map((r) => [r.key, r]));
    const kept = new Set<string>();
    for (const r of records) {
      if (r.kind === 'committed' && r.unsynced) continue;
      for (let p = r.parent; p !== undefined && !kept.has(p); p = byKey.get(p)?.parent) kept.add(p);
    }
    const drop = new Set(
      records
        .filter((r) => r.kind === 'committed' && !kept.has(r.key) && !trusted(r.unsynced, marks))
        .map((r) => r.key),
    );
    for (let grew = drop.size > 0; grew; ) {
      grew = false;
      for (const r of records) {
        if (
          r.kind === 'committed' &&
          r.parent !== undefined &&
          drop.has(r.parent) &&
          !drop.has(r.key) &&
          !kept.has(r.key)
        ) {
          drop.add(r.key);
          grew = true;
        }
      }
    }
    for (const key of drop) {
      const rec = byKey.get(key) as SnapshotRecord;
      await this.meta.delete(key);
      if (!records.some((r) => !drop.has(r.key) && r.id === rec.id)) {
        await fs.rm(this.snapshotDir(rec.id), { recursive: true, force: true });
      }
    }
    const left = records.filter((r) => !drop.has(r.key));
    await pruneMarks(marks, new Set(left.flatMap((r) => (r.unsynced ? [r.unsynced.boot] : []))));
    return left;
  }

  /**
   * Remove what a killed process left: active snapshots and views whose owner is gone, the
   * active half of an interrupted commit, directories without a record, stale mount points.
   * Records are read only when something can be left (writers.ts): a writer that is gone, or no
   * pass yet in this boot.
   */
  private async cleanupStale(): Promise<void> {
    for (const name of await fs.readdir(this.mountsDir)) {
      const p = path.join(this.mountsDir, name);
      // Mounts of live processes (other builds running now) are theirs: unmounting one made
      // that build write into the bare mount point instead of its snapshot.
      const owner = ownerOfName(name);
      if (owner && !ownerDead(owner)) continue;
      if (await isMountPoint(p)) await unmount(p).catch(() => undefined);
      await fs.rmdir(p).catch(() => undefined);
    }
    const survey = this.writers.survey();
    if (!survey.due) return;
    // The pass changes the store too: killed halfway, it leaves the next open a pass to make.
    this.writers.enter();
    const records = await this.dropUnsynced(await this.meta.list());
    const committedIds = new Set(records.filter((r) => r.kind === 'committed').map((r) => r.id));
    const live = new Set<string>();
    for (const rec of records) {
      if (rec.kind !== 'committed' && committedIds.has(rec.id)) {
        await this.meta.delete(rec.key);
      } else if (rec.kind !== 'committed' && (!rec.owner || ownerDead(rec.owner))) {
        await this.meta.delete(rec.key);
        await fs.rm(this.snapshotDir(rec.id), { recursive: true, force: true });
      } else {
        live.add(rec.id);
      }
    }
    // A directory without a record too young to remove may be a gone writer's: its name stays,
    // and the opens after pass again until the directory is old enough to go.
    let young = 0;
    for (const id of await fs.readdir(this.snapshotsDir)) {
      if (live.has(id)) continue;
      const st = await fs.lstat(this.snapshotDir(id)).catch(() => undefined);
      if (!st) continue;
      if (Date.now() - st.mtimeMs > ORPHAN_AGE_MS) {
        await fs.rm(this.snapshotDir(id), { recursive: true, force: true });
      } else {
        young++;
      }
    }
    await this.sweepLatest(new Set(records.map((r) => r.key)));
    this.writers.passed(young === 0 ? survey.dead : []);
  }

  /** In a pass: names of snapshots no longer there, and temp files of processes that are gone. */
  private async sweepLatest(keys: Set<string>): Promise<void> {
    const dir = path.join(this.root, 'latest');
    const names = await fs.readdir(dir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    });
    for (const name of names) {
      const file = path.join(dir, name);
      const tmp = /^[0-9a-f]{64}\.(.+)\.tmp$/.exec(name);
      if (tmp) {
        const owner = ownerOfName(tmp[1]);
        if (owner && ownerDead(owner)) await fs.rm(file, { force: true });
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const key = await fs.readFile(file, 'utf8').catch(() => undefined);
      // A commit writes the record before the name: a name whose record is not there now is stale.
      if (key !== undefined && !keys.has(key) && !this.meta.getSync(key)) await fs.rm(file, { force: true });
    }
  }
}
