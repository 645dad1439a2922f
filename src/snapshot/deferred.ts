/**
 * A snapshotter opened when it is first used, not before. Opening one on a new root costs a
 * trial mount (and the start of the mount server that makes it): ~45 ms of a CI build that
 * imports every step from a remote cache and pushes, which never makes, mounts or reads a
 * snapshot. Such a build asks only for `driver` and `release()`, neither of which opens it.
 */
import type { Readable } from 'node:stream';
import type {
  LayerEntries,
  Mount,
  SnapshotInfo,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from './snapshotter.ts';

export class DeferredSnapshotter implements Snapshotter {
  readonly root: string;
  private readonly expected: string;
  private readonly open: () => Promise<Snapshotter>;
  private opening?: Promise<Snapshotter>;
  private opened?: Snapshotter;

  /** `open` makes the snapshotter at `root`; until it has, `driver` says `expected`. */
  constructor(root: string, expected: string, open: () => Promise<Snapshotter>) {
    this.root = root;
    this.expected = expected;
    this.open = open;
  }

  /** The driver opened, or the one expected while nothing has used this yet. */
  get driver(): string {
    return this.opened?.driver ?? this.expected;
  }

  /** Whether anything has used it (tests). */
  get isOpen(): boolean {
    return this.opening !== undefined;
  }

  private inner(): Promise<Snapshotter> {
    this.opening ??= this.open().then((sn) => {
      this.opened = sn;
      return sn;
    });
    return this.opening;
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return (await this.inner()).stat(key);
  }
  async list(): Promise<SnapshotInfo[]> {
    return (await this.inner()).list();
  }
  async latest(lineage: string): Promise<SnapshotInfo | undefined> {
    return (await this.inner()).latest(lineage);
  }
  async mounts(key: string): Promise<Mount[]> {
    return (await this.inner()).mounts(key);
  }
  async usage(key: string): Promise<Usage> {
    return (await this.inner()).usage(key);
  }
  async hold(keys: readonly string[]): Promise<string[]> {
    return (await this.inner()).hold(keys);
  }
  /** Nothing to release where nothing was opened (and so nothing held). */
  async release(): Promise<void> {
    if (this.opening) await (await this.opening).release();
  }
  async prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return (await this.inner()).prepare(key, parent, opts);
  }
  async view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return (await this.inner()).view(key, parent, opts);
  }
  async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    return (await this.inner()).commit(name, key, opts);
  }
  async remove(key: string): Promise<void> {
    return (await this.inner()).remove(key);
  }
  async diff(key: string): Promise<LayerEntries> {
    return (await this.inner()).diff(key);
  }
  async applyLayerAsSnapshot(
    parent: string | undefined,
    layer: Readable,
    key: string,
  ): Promise<SnapshotInfo> {
    return (await this.inner()).applyLayerAsSnapshot(parent, layer, key);
  }
  async withMounted<T>(key: string, fn: (dir: string) => Promise<T>): Promise<T> {
    return (await this.inner()).withMounted(key, fn);
  }
  async ownDir(key: string): Promise<string | undefined> {
    return (await this.inner()).ownDir(key);
  }
}
