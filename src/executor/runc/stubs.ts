/**
 * Mount points a run needs but the rootfs lacks (/etc/hosts, a cache target, …) are created
 * before the run and removed after it, so they do not end up in the layer (BuildKit's
 * MountStubsCleaner). On overlay, creating them also copied their parent directories up into the
 * upper dir; those copies are pruned once the overlay is unmounted when they are empty and the
 * directory looked the same before and after. Everything after the run goes through the confined
 * resolver by descriptor and refuses symlinks: the container may have replaced any path it could
 * reach with a link to the host.
 */
import { type CreatedEntry, ensureInRoot, removeIfUnchanged } from '../../confine/ensure.ts';
import { fdPath, lstatIn, openParentStrict } from '../../confine/fd.ts';
import { cleanComponents, resolveInRoot } from '../../confine/resolve.ts';
import { readdirSync, rmdirSync, utimesSync } from '../../sys/fs.ts';

export class StubTracker {
  private readonly rootfs: string;
  private readonly upperDir: string | undefined;
  private readonly created: CreatedEntry[] = [];
  /** Directories (relative) that were not in the upper dir before, with their merged listing then. */
  private readonly copiedUp = new Map<string, string>();

  constructor(rootfs: string, upperDir: string | undefined) {
    this.rootfs = rootfs;
    this.upperDir = upperDir;
  }

  /** Ensure `target` exists in the rootfs (before the run); returns its root-relative path. */
  ensure(target: string, kind: 'dir' | 'file'): string {
    const resolved = resolveInRoot(this.rootfs, target).rel;
    if (this.upperDir) {
      const parts = resolved.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const rel = parts.slice(0, i).join('/');
        if (this.copiedUp.has(rel)) continue;
        if (listing(this.upperDir, rel) !== undefined) continue;
        const merged = listing(this.rootfs, rel);
        if (merged !== undefined) this.copiedUp.set(rel, merged);
      }
    }
    const r = ensureInRoot(this.rootfs, target, kind);
    r.held.close();
    this.created.push(...r.created);
    return r.held.comps.join('/');
  }

  /** After the run, with the rootfs still mounted: remove stubs that stayed empty and unchanged. */
  removeStubs(): void {
    for (const c of [...this.created].reverse()) {
      const parent = removeIfUnchanged(this.rootfs, c);
      if (!parent) continue;
      try {
        // Untouched by the run: back to the pre-stub times. Touched: keep the run's (BuildKit).
        if (parent.stat.mtimeMs === c.parentMtimeAfterMs) {
          utimesSync(parent.path, c.parentAtimeMs / 1000, c.parentMtimeMs / 1000);
        }
      } finally {
        parent.close();
      }
    }
    for (const [rel, before] of this.copiedUp) {
      if (listing(this.rootfs, rel) !== before) this.copiedUp.delete(rel);
    }
  }

  /**
   * Once nothing goes through the overlay (unmounted, or its upper dir moved out from under it,
   * detach.ts): drop empty directories that only the stubs had copied up.
   */
  pruneUpper(): void {
    if (!this.upperDir) return;
    const rels = [...this.copiedUp.keys()].sort((a, b) => b.length - a.length);
    for (const rel of rels) {
      const found = openParentStrict(this.upperDir, rel);
      if (!found) continue;
      try {
        const st = lstatIn(found.dir, found.name);
        if (!st?.isDirectory()) continue;
        if (readdirSync(fdPath(found.dir.fd, found.name)).length === 0)
          rmdirSync(fdPath(found.dir.fd, found.name));
      } catch {
        // Not empty any more, or gone: it is the run's, not ours.
      } finally {
        found.dir.close();
      }
    }
  }
}

/** The sorted listing of directory `rel` under `root`, reached without following any symlink. */
function listing(root: string, rel: string): string | undefined {
  const comps = cleanComponents(rel);
  if (comps.length === 0) return readdirSync(root).sort().join('\0');
  const found = openParentStrict(root, rel);
  if (!found) return undefined;
  try {
    const st = lstatIn(found.dir, found.name);
    if (!st?.isDirectory()) return undefined;
    return readdirSync(fdPath(found.dir.fd, found.name)).sort().join('\0');
  } finally {
    found.dir.close();
  }
}
