/**
 * Finding what an incremental COPY can reuse: the previous result of the same step (same vertex,
 * same base snapshot, recorded as a snapshot label), and whether this COPY is simple enough for
 * fileops/reuse.ts to map source files to their places in that result (one directory source
 * from the build context, no wildcards, filters, --parents, ADD extraction or fixed mtimes).
 */
import { join, posix } from 'node:path';
import { prestatFor } from '../context/prestat.ts';
import { excludeView } from '../context/walk.ts';
import type { CopyAction } from '../graph/ops.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { lstatSync } from '../sys/fs.ts';
import type { DirState } from './state.ts';

/** Label on a committed COPY snapshot: the step (job digest) that made it. */
export const STEP_LABEL = 'kiln.step';

/** The copy's source directory, relative to the context, when the copy can reuse files. */
export function reusableSource(a: CopyAction, src: DirState, srcRoot: string): string | undefined {
  if (a.srcPaths.length !== 1 || a.parents || a.unpack || a.link || a.createdTime !== undefined) return;
  if (a.excludePatterns.length || a.includePatterns.length || src.includePatterns.length) return;
  if (!a.dirContentsOnly || (a.allowWildcard && /[*?[\\]/.test(a.srcPaths[0]))) return;
  const rel = posix.normalize(`/${a.srcPaths[0]}`).slice(1).replace(/\/$/, '');
  if (rel.split('/').includes('..')) return;
  // Every component must be a real directory: reuse maps paths below it one to one.
  let p = srcRoot;
  for (const part of rel === '' ? [] : rel.split('/')) {
    p = join(p, part);
    if (!lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) return;
  }
  return rel;
}

/**
 * Label on a committed COPY snapshot that linked files from an earlier result of its step: that
 * result's key, whose layer holds those files' bytes (exporter/layers.ts reads them from it).
 */
export const DONOR_LABEL = 'kiln.donor';

/** The lineage (SnapshotOptions) of a COPY step's results on one parent: latest() finds the last. */
export function stepLineage(step: string, parent: string | undefined): string {
  return JSON.stringify(['copy', step, parent ?? null]);
}

/** What reusePrevious linked, and the snapshot it linked from (when it linked anything). */
export interface Reused {
  linked: Set<string>;
  donor?: string;
}

/**
 * Link the unchanged files of the previous result of `step` on `parent` into the active
 * snapshot `active` (not yet mounted): the paths linked (none: an empty set) and that result.
 */
export async function reusePrevious(
  sn: Snapshotter,
  step: string,
  parent: string | undefined,
  active: string,
  copy: { srcRoot: string; srcRel: string; dest: string; excludePatterns: string[] },
): Promise<Reused> {
  const none = { linked: new Set<string>() };
  const targetDir = await sn.ownDir(active);
  if (!targetDir) return none;
  // The last result committed (not every record read: a store holds hundreds of snapshots).
  // latest() checks the record's lineage, which names the step and the parent.
  const previous = await sn.latest(stepLineage(step, parent));
  const donorDir = previous && (await sn.ownDir(previous.key));
  if (!donorDir) return none;
  const view = excludeView(copy.srcRoot, copy.excludePatterns);
  const { linkUnchanged } = await import('../fileops/reuse.ts');
  try {
    const linked = await linkUnchanged({
      donorDir,
      targetDir,
      srcDir: copy.srcRel === '' ? copy.srcRoot : join(copy.srcRoot, copy.srcRel),
      srcRel: copy.srcRel,
      destRel: posix.normalize(copy.dest).replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.$/, ''),
      view,
      known: (rel) => prestatFor(copy.srcRoot)?.stat(rel),
    });
    return linked.size > 0 ? { linked, donor: previous.key } : none;
  } catch {
    // The previous result went away meanwhile (a concurrent prune), or a file changed under us:
    // copy everything. What was linked already is replaced by copy(), which never keeps a file
    // it was not told is reused.
    return none;
  }
}
