/**
 * A snapshotter that may be looked at but not used: metadata, usage and holds pass through (a
 * hit in the cache holds its snapshots, so a concurrent prune keeps them), while anything that
 * makes, mounts, reads or removes a snapshot's files throws `refuse(what)` before it starts.
 * Rootless kiln builds through one before it enters its user namespace (isolation/outside.ts):
 * there the files of a snapshot belong to subordinate ids the user cannot read or change.
 */
import type { Readable } from 'node:stream';
import type { LayerEntries, Mount, SnapshotInfo, Snapshotter, Usage } from './snapshotter.ts';

export class ReadOnlySnapshotter implements Snapshotter {
  readonly driver: string;
  readonly root: string;
  private readonly inner: Snapshotter;
  private readonly refuse: (what: string) => Error;

  constructor(inner: Snapshotter, refuse: (what: string) => Error) {
    this.inner = inner;
    this.refuse = refuse;
    this.driver = inner.driver;
    this.root = inner.root;
  }

  stat(key: string): Promise<SnapshotInfo> {
    return this.inner.stat(key);
  }
  list(): Promise<SnapshotInfo[]> {
    return this.inner.list();
  }
  latest(lineage: string): Promise<SnapshotInfo | undefined> {
    return this.inner.latest(lineage);
  }
  usage(key: string): Promise<Usage> {
    return this.inner.usage(key);
  }
  hold(keys: readonly string[]): Promise<string[]> {
    return this.inner.hold(keys);
  }
  release(): Promise<void> {
    return this.inner.release();
  }

  private async refused(what: string): Promise<never> {
    throw this.refuse(what);
  }
  mounts(key: string): Promise<Mount[]> {
    return this.refused(`mounting snapshot ${key}`);
  }
  prepare(key: string): Promise<Mount[]> {
    return this.refused(`making snapshot ${key}`);
  }
  view(key: string): Promise<Mount[]> {
    return this.refused(`making snapshot ${key}`);
  }
  commit(name: string): Promise<void> {
    return this.refused(`committing snapshot ${name}`);
  }
  remove(key: string): Promise<void> {
    return this.refused(`removing snapshot ${key}`);
  }
  diff(key: string): Promise<LayerEntries> {
    return this.refused(`reading snapshot ${key}`);
  }
  applyLayerAsSnapshot(_parent: string | undefined, layer: Readable, key: string): Promise<SnapshotInfo> {
    layer.destroy();
    return this.refused(`unpacking layer snapshot ${key}`);
  }
  withMounted<T>(key: string): Promise<T> {
    return this.refused(`mounting snapshot ${key}`);
  }
  ownDir(key: string): Promise<string | undefined> {
    return this.refused(`writing into snapshot ${key}`);
  }
}
