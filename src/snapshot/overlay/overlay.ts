/**
 * The overlayfs snapshotter (needs root): each snapshot directory holds only its own changes
 * (`fs`, the overlay upper dir) and an active one a `work` dir; parents are stacked as lowerdirs.
 * Layers come straight from the upper dir, and unpack into one with overlay-style whiteouts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { LayerEntries } from '../../archive/tree-entries.ts';
import { KilnError } from '../../errors/errors.ts';
import { inUserNamespace } from '../../isolation/mode.ts';
import { BaseSnapshotter } from '../base.ts';
import { applyTar, diffUpper } from '../layer.ts';
import type { SnapshotRecord } from '../metadata.ts';
import { mountAll, unmount } from '../mount.ts';
import type { Mount, SnapshotKind } from '../snapshotter.ts';

export class OverlaySnapshotter extends BaseSnapshotter {
  readonly driver = 'overlay';
  /**
   * Options for writable overlays: no redirects or metacopy-only copy-ups, so the upper dir alone
   * is the layer (archive's diffOverlayUpper relies on it), and no index. Empty on kernels that
   * reject them (where those features do not exist either).
   */
  /**
   * In a user namespace (rootless kiln's own, or a rootless container; kernel 5.11+) overlay keeps its opaque markers in
   * user.overlay.* xattrs (`userxattr`): trusted.* is for the host's root alone.
   */
  private readonly userxattr = inUserNamespace();
  private readonly baseOptions: string[] = this.userxattr ? ['userxattr'] : [];
  private writableOptions: string[] = [...this.baseOptions, 'index=off', 'redirect_dir=off', 'metacopy=off'];
  /**
   * Whether this kernel takes `volatile` (5.10+): a build step's overlay then skips the sync of
   * the whole backing filesystem at its unmount (SnapshotOptions.volatile, durability.ts).
   */
  private volatileOk = false;
  protected override readonly layered = true;

  /**
   * The snapshotter of a root an earlier open() set up, for reading its records and holding its
   * snapshots only: no trial mount, no clean-up of what a killed build left (see
   * store/snapshots.ts attachSnapshotter).
   */
  static attach(root: string): OverlaySnapshotter {
    return new OverlaySnapshotter(root);
  }

  /** Open (creating) an overlay snapshotter at `root`; throws SNAPSHOTTER_UNSUPPORTED if overlayfs cannot mount. */
  static async open(root: string): Promise<OverlaySnapshotter> {
    const s = new OverlaySnapshotter(root);
    await s.init();
    await s.trialMount();
    await s.claimRoot();
    return s;
  }

  /**
   * One real mount tells whether this kernel, filesystem and user can do overlay. The outcome is
   * remembered per kernel release (a trial costs a mount and several file creations on every
   * start, a good part of a warm build).
   */
  private async trialMount(): Promise<void> {
    const marker = path.join(this.root, 'overlay-check');
    const kernel = os.release();
    const known = await fs.readFile(marker, 'utf8').catch(() => '');
    const [release, options, volatile] = known.split('\n');
    // A marker from before the volatile trial (two lines) is tried again.
    if (release === kernel && options !== undefined && volatile !== undefined) {
      this.writableOptions = options ? options.split(',') : [];
      this.volatileOk = volatile === 'volatile';
      return;
    }
    // With `volatile` first: where it mounts (Linux 5.10+), one mount answers for both the
    // options and volatile (a mount and an unmount, ~10 ms of a cold build's start).
    const found = await this.firstMounting([this.writableOptions, [...this.baseOptions]]);
    this.writableOptions = found.options;
    this.volatileOk = found.volatile;
    const tmp = `${marker}.${randomBytes(4).toString('hex')}`;
    await fs.writeFile(
      tmp,
      `${kernel}\n${this.writableOptions.join(',')}\n${this.volatileOk ? 'volatile' : ''}`,
    );
    await fs.rename(tmp, marker);
  }

  /** The first of `choices` that mounts, and whether it mounts `volatile` too. */
  private async firstMounting(choices: string[][]): Promise<{ options: string[]; volatile: boolean }> {
    let failure: unknown;
    for (const options of choices) {
      for (const volatile of [true, false]) {
        try {
          await this.trialMountWith(volatile ? [...options, 'volatile'] : options);
          return { options, volatile };
        } catch (err) {
          failure = err;
        }
      }
    }
    throw failure;
  }

  private async trialMountWith(extra: string[]): Promise<void> {
    const dir = path.join(this.root, `trial-${randomBytes(4).toString('hex')}`);
    const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((n) => path.join(dir, n));
    try {
      for (const d of [lower, upper, work, merged]) await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(lower, 'probe'), 'ok');
      await mountAll(
        [
          {
            type: 'overlay',
            source: 'overlay',
            options: [...extra, `lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
          },
        ],
        merged,
      );
      try {
        await fs.access(path.join(merged, 'probe'));
      } finally {
        await unmount(merged);
      }
    } catch (err) {
      throw new KilnError('SNAPSHOTTER_UNSUPPORTED', `overlayfs does not work under ${this.root}`, {
        cause: err,
        hint: 'It needs root and a filesystem overlay supports as upper (ext4, xfs); use the native snapshotter otherwise.',
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  protected async populate(dir: string, parents: SnapshotRecord[], kind: SnapshotKind): Promise<void> {
    await fs.mkdir(path.join(dir, 'fs'), { mode: 0o755 });
    if (kind === 'active' && parents.length > 0) await fs.mkdir(path.join(dir, 'work'), { mode: 0o700 });
  }

  protected mountsFor(rec: SnapshotRecord, parents: SnapshotRecord[]): Mount[] {
    const ro = rec.kind === 'view';
    if (parents.length === 0) {
      return [{ type: 'bind', source: this.fsDir(rec.id), options: ['rbind', ro ? 'ro' : 'rw'] }];
    }
    const lower = parents.map((p) => this.fsDir(p.id));
    if (ro) {
      if (lower.length === 1) return [{ type: 'bind', source: lower[0], options: ['rbind', 'ro'] }];
      return [
        { type: 'overlay', source: 'overlay', options: [...this.baseOptions, `lowerdir=${lower.join(':')}`] },
      ];
    }
    const work = path.join(this.snapshotDir(rec.id), 'work');
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          ...this.writableOptions,
          ...(rec.volatile && this.volatileOk ? ['volatile'] : []),
          `workdir=${work}`,
          `upperdir=${this.fsDir(rec.id)}`,
          `lowerdir=${lower.join(':')}`,
        ],
      },
    ];
  }

  protected diffOf(rec: SnapshotRecord): Promise<LayerEntries> {
    return diffUpper(this.fsDir(rec.id));
  }

  protected async applyInto(
    rec: SnapshotRecord,
    _parents: SnapshotRecord[],
    layer: Readable,
  ): Promise<string> {
    // The upper dir is empty and not mounted: whiteouts become overlay's char 0:0 devices and opaque xattrs.
    return applyTar(this.fsDir(rec.id), layer, 'overlay', this.userxattr);
  }
}
