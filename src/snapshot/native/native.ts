/**
 * The native snapshotter: every snapshot is a full copy of its parent (`cp -a`, no hard links
 * shared between snapshots, so changing one never changes another). Slow and large, but it needs
 * no privileges and no mounts; diffs compare a snapshot with its parent directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { LayerEntries } from '../../archive/tree-entries.ts';
import { KilnError } from '../../errors/errors.ts';
import { execFileAsync } from '../../sys/exec.ts';
import { BaseSnapshotter } from '../base.ts';
import { applyTar, diffDirs } from '../layer.ts';
import type { SnapshotRecord } from '../metadata.ts';
import type { Mount } from '../snapshotter.ts';

export class NativeSnapshotter extends BaseSnapshotter {
  readonly driver = 'native';

  /** The snapshotter of a root an earlier open() set up, for reading and holding only (see OverlaySnapshotter.attach). */
  static attach(root: string): NativeSnapshotter {
    return new NativeSnapshotter(root);
  }

  static async open(root: string): Promise<NativeSnapshotter> {
    const s = new NativeSnapshotter(root);
    await s.init();
    await fs.mkdir(s.emptyDir(), { recursive: true, mode: 0o755 });
    await s.claimRoot();
    return s;
  }

  /** An always-empty directory: the "parent" of a base snapshot when diffing. */
  private emptyDir(): string {
    return path.join(this.root, 'empty');
  }

  protected async populate(dir: string, parents: SnapshotRecord[]): Promise<void> {
    const target = path.join(dir, 'fs');
    if (parents.length === 0) {
      await fs.mkdir(target, { mode: 0o755 });
      return;
    }
    try {
      // cp -a keeps owners, modes, times, xattrs, devices and hard links inside the tree.
      await execFileAsync('cp', ['-a', '--reflink=auto', '--', this.fsDir(parents[0].id), target]);
    } catch (err) {
      throw new KilnError(
        'SNAPSHOT_COPY_FAILED',
        `cannot copy snapshot "${parents[0].key}": ${String((err as { stderr?: string }).stderr ?? err).trim()}`,
        {
          cause: err,
          hint: 'Check free space under the snapshotter root.',
        },
      );
    }
  }

  protected mountsFor(rec: SnapshotRecord): Mount[] {
    return [
      { type: 'bind', source: this.fsDir(rec.id), options: ['rbind', rec.kind === 'view' ? 'ro' : 'rw'] },
    ];
  }

  protected diffOf(rec: SnapshotRecord, parents: SnapshotRecord[]): Promise<LayerEntries> {
    const lower = parents[0] ? this.fsDir(parents[0].id) : this.emptyDir();
    return diffDirs(lower, this.fsDir(rec.id));
  }

  protected async applyInto(
    rec: SnapshotRecord,
    _parents: SnapshotRecord[],
    layer: Readable,
  ): Promise<string> {
    return applyTar(this.fsDir(rec.id), layer, 'delete');
  }
}
