/**
 * The imperative flow's public API, buildah's operations on working containers that persist in
 * kiln's root: `WorkingContainers.open()` then `from`, `get`, `list`; a `WorkingContainer` has
 * `run`, `copy`, `add`, `config`, `commit`, `mount`, `umount`, `rm` and `inspect`. Each operation
 * takes the container's lock for its duration (another waits), and finishes any commit a killed
 * command left half done before it starts.
 */
import { rm } from 'node:fs/promises';
import { hasCode } from '../errors/errors.ts';
import { normalizeReference } from '../reference/reference.ts';
import { type CommitOptions, type CommitResult, commitContainer, recoverPending } from './commit.ts';
import { applyConfig, type ConfigChanges } from './config.ts';
import { type CopyOptions, copyIntoContainer } from './copy.ts';
import { createContainer, type FromOptions } from './from.ts';
import type { ContainerRecord } from './record.ts';
import { containerDirs, containerMount, mountMerged, unmountMerged } from './rootfs.ts';
import { type RunOptions, runInContainer } from './run.ts';
import { Session, type SessionOptions } from './session.ts';

export type {
  CommitOptions,
  CommitResult,
  ConfigChanges,
  ContainerRecord,
  CopyOptions,
  FromOptions,
  RunOptions,
};

export interface NamedCommit extends CommitResult {
  /** The name given, normalized (e.g. docker.io/library/app:latest), if any. */
  name?: string;
}

export class WorkingContainers {
  readonly session: Session;

  private constructor(session: Session) {
    this.session = session;
  }

  static async open(opts: SessionOptions = {}): Promise<WorkingContainers> {
    return new WorkingContainers(await Session.open(opts));
  }

  /** A new working container over `image` ('scratch' for none). */
  async from(image: string, opts: FromOptions = {}): Promise<WorkingContainer> {
    return new WorkingContainer(this.session, await createContainer(this.session, image, opts));
  }

  /** The container named `ref` (name, ID or unique ID prefix); throws CONTAINER_NOT_FOUND. */
  async get(ref: string): Promise<WorkingContainer> {
    return new WorkingContainer(this.session, await this.session.records.find(ref));
  }

  list(): Promise<ContainerRecord[]> {
    return this.session.records.list();
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

export class WorkingContainer {
  private readonly s: Session;
  /** The record as last read or written by this object. */
  record: ContainerRecord;

  constructor(session: Session, record: ContainerRecord) {
    this.s = session;
    this.record = record;
  }

  get id(): string {
    return this.record.id;
  }

  get name(): string {
    return this.record.name;
  }

  /** Run `fn` on the fresh record under the lock; a record it returns is saved. */
  private async locked<T>(fn: (rec: ContainerRecord) => Promise<[T, ContainerRecord?]>): Promise<T> {
    return this.s.locked(this.record.id, async (fresh) => {
      let rec = await recoverPending(this.s, fresh);
      this.record = rec;
      const [value, next] = await fn(rec);
      if (next) {
        rec = next;
        await this.s.records.write(rec);
        this.record = rec;
      }
      return value;
    });
  }

  /** Run `argv` in the container; resolves to its exit status. */
  run(argv: string[], opts: RunOptions = {}): Promise<number> {
    return this.locked(async (rec) => {
      const code = await runInContainer(this.s, rec, argv, opts);
      return [code, { ...rec, commands: [...rec.commands, `kiln run ${argv.join(' ')}`] }];
    });
  }

  copy(sources: string[], dest?: string, opts: CopyOptions = {}): Promise<void> {
    return this.locked(async (rec) => {
      await copyIntoContainer(this.s, rec, sources, dest, opts);
      const verb = opts.add ? 'add' : 'copy';
      return [
        undefined,
        { ...rec, commands: [...rec.commands, `kiln ${verb} ${[...sources, dest ?? ''].join(' ').trim()}`] },
      ];
    });
  }

  add(sources: string[], dest?: string, opts: CopyOptions = {}): Promise<void> {
    return this.copy(sources, dest, { ...opts, add: true });
  }

  config(changes: ConfigChanges): Promise<void> {
    return this.locked(async (rec) => [undefined, applyConfig(rec, changes)]);
  }

  /**
   * Commit into an image, named `name` in the local store when given (kept as `<none>` when not);
   * `rm` removes the container afterwards.
   */
  async commit(name: string | undefined, opts: CommitOptions & { rm?: boolean } = {}): Promise<NamedCommit> {
    const out = await this.locked(async (rec) => {
      // `kiln mount`'s mount shares the upper dir, which the commit moves: unmounted meanwhile.
      const dirs = containerDirs(this.s.records.home(rec.id));
      const remount = rec.mountPoint ? await unmountMerged(dirs) : false;
      try {
        const { result, rec: after } = await this.s.store.withLease(async () => {
          const r = await commitContainer(this.s, rec, opts);
          const ref = name === undefined ? undefined : normalizeReference(name);
          if (ref) await this.s.store.images.put(ref, r.result.manifest);
          else await this.s.store.images.keepUnnamed(r.result.manifest);
          return { result: { ...r.result, name: ref }, rec: r.rec };
        });
        return [result, after] as [NamedCommit, ContainerRecord];
      } finally {
        if (remount) {
          const latest = (await this.s.records.read(rec.id)) ?? rec;
          await mountMerged(await containerMount(this.s.sn, topOf(latest), dirs), dirs);
        }
      }
    });
    if (opts.rm) await this.rm();
    return out;
  }

  /** Mount the rootfs where the user may edit it with any tool; returns the path. */
  mount(): Promise<string> {
    return this.locked(async (rec) => {
      const dirs = containerDirs(this.s.records.home(rec.id));
      const path = await mountMerged(await containerMount(this.s.sn, topOf(rec), dirs), dirs);
      return [path, { ...rec, mountPoint: path }];
    });
  }

  umount(): Promise<void> {
    return this.locked(async (rec) => {
      await unmountMerged(containerDirs(this.s.records.home(rec.id)));
      const { mountPoint: _gone, ...rest } = rec;
      return [undefined, rest as ContainerRecord];
    });
  }

  /** Remove the container: its snapshots, its lease on the base image's blobs, its directory. */
  rm(): Promise<void> {
    return this.s.locked(this.record.id, async (rec) => {
      const dirs = containerDirs(this.s.records.home(rec.id));
      await unmountMerged(dirs);
      const keys = [
        ...rec.layers.map((l) => l.snapshot).reverse(),
        ...(rec.pending ? [rec.pending.snapshot] : []),
      ];
      for (const key of [...keys, rec.anchor]) {
        await this.s.sn.remove(key).catch((err) => {
          if (!hasCode(err, 'SNAPSHOT_NOT_FOUND')) throw err;
        });
      }
      this.s.store.meta.deleteLease(rec.lease);
      await rm(this.s.records.home(rec.id), { recursive: true, force: true });
      await rm(this.s.records.file(rec.id), { force: true });
      await rm(this.s.records.lockFile(rec.id), { force: true });
    });
  }

  /** buildah inspect's shape, for a container. */
  inspect(): ContainerInspect {
    const rec = this.record;
    return {
      Type: 'kiln 0.0.1',
      FromImage: rec.fromImage,
      FromImageID: rec.fromImageId?.replace(/^sha256:/, '') ?? '',
      FromImageDigest: rec.fromImageDigest ?? '',
      Container: rec.name,
      ContainerID: rec.id,
      MountPoint: rec.mountPoint ?? '',
      Created: rec.created,
      Platform: rec.platform,
      OCIv1: rec.config,
      ImageAnnotations: rec.annotations ?? {},
      Layers: rec.layers.length,
      History: rec.config.history ?? [],
    };
  }
}

export interface ContainerInspect {
  Type: string;
  FromImage: string;
  FromImageID: string;
  FromImageDigest: string;
  Container: string;
  ContainerID: string;
  MountPoint: string;
  Created: string;
  Platform: ContainerRecord['platform'];
  OCIv1: ContainerRecord['config'];
  ImageAnnotations: Record<string, string>;
  Layers: number;
  History: NonNullable<ContainerRecord['config']['history']>;
}

function topOf(rec: ContainerRecord): string {
  return rec.layers.at(-1)?.snapshot ?? rec.anchor;
}
