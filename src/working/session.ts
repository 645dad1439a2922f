/**
 * What every working-container operation uses: the store, the snapshotter (its hold scope is the
 * operation's), the container records, and a registry client made on first use. One session per
 * command; `close()` releases the snapshotter's holds.
 */
import { join } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import { parseReference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { openSnapshotter } from '../store/snapshots.ts';
import { openStore, type Store } from '../store/store.ts';
import { BaseImages } from '../worker/images.ts';
import { ContainerLock, type LockWait } from './lock.ts';
import { type ContainerRecord, ContainerRecords } from './record.ts';

export interface SessionOptions {
  /** kiln's state root (default KILN_ROOT or /var/lib/kiln); ignored when `store` is given. */
  root?: string;
  store?: Store;
  /** Registry hosts config (default `<root>/registries.toml`). */
  registryConfig?: string;
  signal?: AbortSignal;
  /** Told when a container is busy and the operation waits for it. */
  onWait?: (container: string) => void;
  /** Give up waiting for a busy container after this long (default: wait). */
  lockTimeoutMs?: number;
}

export class Session {
  readonly store: Store;
  readonly sn: Snapshotter;
  readonly records: ContainerRecords;
  readonly opts: SessionOptions;
  private registry?: Promise<RegistryClient>;
  private readonly ownsStore: boolean;

  private constructor(store: Store, sn: Snapshotter, opts: SessionOptions, ownsStore: boolean) {
    this.store = store;
    this.sn = sn;
    this.records = new ContainerRecords(store.root);
    this.opts = opts;
    this.ownsStore = ownsStore;
  }

  static async open(opts: SessionOptions = {}): Promise<Session> {
    const store = opts.store ?? openStore(opts.root);
    try {
      const sn = await openSnapshotter(join(store.root, 'snapshots'));
      return new Session(store, sn, opts, !opts.store);
    } catch (err) {
      if (!opts.store) store.close();
      throw err;
    }
  }

  registryClient(): Promise<RegistryClient> {
    this.registry ??= Promise.all([import('../registry/client.ts'), import('../registry/hosts.ts')]).then(
      ([{ RegistryClient }, hosts]) =>
        new RegistryClient({
          config: hosts.loadRegistryConfig(
            this.opts.registryConfig ?? hosts.defaultRegistryConfigPath(this.store.root),
            this.opts.registryConfig !== undefined,
          ),
          signal: this.opts.signal,
        }),
    );
    return this.registry;
  }

  /** Images as a build's bases are found: the local store first, the registry when absent or with `pull`. */
  baseImages(pull: boolean): BaseImages {
    return new BaseImages(
      this.store,
      {
        source: async (ref) =>
          (await import('../registry/source.ts')).resolveImage(
            await this.registryClient(),
            parseReference(ref),
            {
              platform: 'all',
            },
          ),
      },
      { pull },
    );
  }

  /**
   * Run `fn` holding container `ref`'s lock, with its record as it is once the lock is taken
   * (another command may have changed it while this one waited).
   */
  async locked<T>(ref: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
    const found = await this.records.find(ref);
    const lock = new ContainerLock(this.records.lockFile(found.id), `working container "${found.name}"`);
    await lock.acquire(this.lockWait(found.name));
    try {
      const rec = await this.records.read(found.id);
      if (!rec) {
        throw new KilnError('CONTAINER_NOT_FOUND', `working container "${ref}" was removed meanwhile`, {
          hint: 'list them with `kiln containers`',
        });
      }
      return await fn(rec);
    } finally {
      lock.release();
    }
  }

  lockWait(name: string): LockWait {
    return {
      onWait: () => this.opts.onWait?.(name),
      timeoutMs: this.opts.lockTimeoutMs,
      signal: this.opts.signal,
    };
  }

  async close(): Promise<void> {
    // The store first: its database's fsync at close would wait behind the `sync -f` the
    // snapshotter's release starts (pipeline/build.ts closes in the same order).
    try {
      if (this.ownsStore) this.store.close();
    } finally {
      await this.sn.release();
    }
  }
}
