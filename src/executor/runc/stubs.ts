/**
 * Mount points a run needs but the rootfs lacks (/etc/hosts, a cache target, …) are created
 * before the run and removed after it, so they do not end up in the layer. On overlay, creating
 * them also copied their parent directories up into the upper dir; those copies are pruned once
 * the overlay is unmounted when they are empty and the directory looked the same before and after.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { type CreatedPath, ensureInRoot, removeStubs, resolveInRoot } from '../rootpath.ts';

export class StubTracker {
  private readonly rootfs: string;
  private readonly upperDir: string | undefined;
  private readonly created: CreatedPath[] = [];
  /** Directories (relative) that were not in the upper dir before, with their merged listing then. */
  private readonly copiedUp = new Map<string, string>();

  constructor(rootfs: string, upperDir: string | undefined) {
    this.rootfs = rootfs;
    this.upperDir = upperDir;
  }

  /** Ensure `target` exists in the rootfs; returns its resolved host path. */
  async ensure(target: string, kind: 'dir' | 'file'): Promise<string> {
    const resolved = path.relative(this.rootfs, await resolveInRoot(this.rootfs, target));
    if (this.upperDir) {
      const parts = resolved.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const rel = parts.slice(0, i).join('/');
        if (this.copiedUp.has(rel)) continue;
        if (await exists(path.join(this.upperDir, rel))) continue;
        const listing = await fs.readdir(path.join(this.rootfs, rel)).catch(() => undefined);
        if (listing) this.copiedUp.set(rel, listing.sort().join('\0'));
      }
    }
    const r = await ensureInRoot(this.rootfs, target, kind);
    this.created.push(...r.created);
    return r.path;
  }

  /** After the run, with the rootfs still mounted: remove stubs that stayed empty. */
  async removeStubs(): Promise<void> {
    await removeStubs(this.created);
    for (const [rel, before] of this.copiedUp) {
      const now = await fs.readdir(path.join(this.rootfs, rel)).catch(() => undefined);
      if (!now || now.sort().join('\0') !== before) this.copiedUp.delete(rel);
    }
  }

  /** After unmounting the overlay: drop empty directories that only the stubs had copied up. */
  async pruneUpper(): Promise<void> {
    if (!this.upperDir) return;
    const rels = [...this.copiedUp.keys()].sort((a, b) => b.length - a.length);
    for (const rel of rels) {
      const p = path.join(this.upperDir, rel);
      const entries = await fs.readdir(p).catch(() => undefined);
      if (entries && entries.length === 0) await fs.rmdir(p).catch(() => undefined);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
