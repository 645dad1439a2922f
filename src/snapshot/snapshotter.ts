/**
 * The snapshotter contract, containerd-style: snapshots named by key form parent chains; an
 * active snapshot is writable, a committed one is immutable and can be a parent, a view is a
 * read-only snapshot over a parent. Implementations: overlay/ (overlayfs, root) and native/
 * (plain copies, works without privileges). Both are checked by one conformance suite.
 */
import type { Readable } from 'node:stream';
import type { LayerEntries } from '../archive/tree-entries.ts';

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  /** Key of the committed parent, absent for a base snapshot. */
  parent?: string;
  /** ISO time of creation (commit time for committed snapshots). */
  created: string;
  labels: Record<string, string>;
}

/** What to mount, in containerd's shape: `mount -t <type> <source> -o <options>`. */
export interface Mount {
  /** 'overlay' or 'bind'. */
  type: string;
  source: string;
  options: string[];
}

export interface Usage {
  /** Bytes of file data the snapshot itself holds (not its parents). */
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
  /**
   * prepare() only: the snapshot is written once, in this process, and committed or removed
   * before it ends (a build step, an unpacked layer), so overlay may mount it `volatile` (no sync
   * of the whole backing filesystem at its unmount) and its commit is marked unsynced
   * (durability.ts says when its files are trusted instead).
   */
  volatile?: boolean;
  /**
   * commit() only: what the snapshot is the latest result of (a build step on its parent), for
   * latest() to find without reading every record.
   */
  lineage?: string;
}

/** One entry of a layer (tar header plus content source), as the archive module defines it. */
export type { LayerEntry } from '../archive/entries.ts';
export type { LayerEntries } from '../archive/tree-entries.ts';

/** Reading snapshot state. */
export interface SnapshotReader {
  stat(key: string): Promise<SnapshotInfo>;
  list(): Promise<SnapshotInfo[]>;
  /** The snapshot committed last under `lineage` (SnapshotOptions), if it is still there. */
  latest(lineage: string): Promise<SnapshotInfo | undefined>;
  /** The mounts of an active snapshot or view (a committed snapshot cannot be mounted). */
  mounts(key: string): Promise<Mount[]>;
  usage(key: string): Promise<Usage>;
}

/**
 * Keeping snapshots from removal while an operation builds on them. Each open snapshotter is one
 * operation: it holds what it commits and the parents it prepares or views on, and what hold()
 * names, until release(). remove() in any process refuses a snapshot another snapshotter holds
 * (SNAPSHOT_IN_USE), and so does it for an active snapshot or view of another live process.
 */
export interface SnapshotHolder {
  /**
   * Hold `keys` and return those that are not committed snapshots (held all the same). A key
   * reported present stays until release(): a removal that started before the hold has finished.
   */
  hold(keys: readonly string[]): Promise<string[]>;
  /** Drop every hold of this snapshotter (when the operation ends). */
  release(): Promise<void>;
}

/** Creating and removing snapshots. Keys and committed names share one namespace. */
export interface SnapshotWriter {
  /** A new writable snapshot over `parent` (a committed snapshot), or empty without one. */
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** A new read-only snapshot showing `parent`. */
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Turn the active snapshot `key` into the immutable snapshot `name`; `key` is gone afterwards. */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  /**
   * Remove a snapshot (dropping this snapshotter's own hold on it); throws SNAPSHOT_IN_USE while it
   * has children or another snapshotter holds it.
   */
  remove(key: string): Promise<void>;
}

/** Layers: the changes of a snapshot against its parent, and a snapshot made from a layer. */
export interface LayerSnapshotter {
  /** The entries of the snapshot's layer (its changes against its parent, deletions as whiteouts). */
  diff(key: string): Promise<LayerEntries>;
  /**
   * Unpack a layer blob (any compression) on top of `parent` and commit it as `key`; the result's
   * labels carry the layer's diffID under 'kiln.diff-id'.
   */
  applyLayerAsSnapshot(parent: string | undefined, layer: Readable, key: string): Promise<SnapshotInfo>;
}

export interface Snapshotter extends SnapshotReader, SnapshotWriter, SnapshotHolder, LayerSnapshotter {
  /** 'overlay' or 'native'. */
  readonly driver: string;
  /** The directory holding all of this snapshotter's state. */
  readonly root: string;
  /**
   * Mount the snapshot on a temporary mount point, call `fn` with its path for host-side file
   * operations, and unmount afterwards, also when `fn` throws.
   */
  withMounted<T>(key: string, fn: (dir: string) => Promise<T>): Promise<T>;
  /**
   * The directory holding only this snapshot's own files (overlay's upper dir), or undefined when
   * the driver keeps full copies. An active snapshot's may be filled before it is first mounted.
   */
  ownDir(key: string): Promise<string | undefined>;
}
