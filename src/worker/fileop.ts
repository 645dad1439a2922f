/**
 * Running a file vertex (COPY, ADD, WORKDIR, heredoc files): a writable snapshot over the base,
 * each action applied in order on the mounted tree through root-confined path resolution, then
 * commit. Copy sources are other inputs: a context directory or another stage's filesystem.
 */
import { posix } from 'node:path';
import { KilnError } from '../errors/errors.ts';
import type { LayerLinks } from '../fileops/layer-links.ts';
import type { CopyAction, FileOp } from '../graph/ops.ts';
import { privilegeError } from '../isolation/privilege.ts';
import type { SnapshotOptions, Snapshotter } from '../snapshot/snapshotter.ts';
import type { JobContext } from '../solver/solver.ts';
import { materialize } from './materialize.ts';
import { withStatePaths } from './mounted.ts';
import { DONOR_LABEL, reusableSource, reusePrevious, STEP_LABEL, stepLineage } from './reuse.ts';
import { literalSource, type XattrTrees } from './stage-checksum.ts';
import { type BuildState, type FsState, SCRATCH, top } from './state.ts';
import { commitStep } from './step.ts';

/** The trees read of a stage's top snapshot, for a copy from it. */
function knownXattrs(src: BuildState, trees?: XattrTrees) {
  const snapshot = src.kind === 'fs' ? top(src) : undefined;
  if (!trees || snapshot === undefined) return undefined;
  return (rel: string) => trees.take(snapshot, rel);
}

function absolute(cwd: string, p: string): string {
  const keepSlash = p.endsWith('/');
  const joined = posix.isAbsolute(p) ? p : posix.join(cwd || '/', p);
  const clean = posix.normalize(joined);
  return keepSlash && !clean.endsWith('/') ? `${clean}/` : clean;
}

export async function runFileOp(
  sn: Snapshotter,
  op: FileOp,
  inputs: BuildState[],
  ctx: JobContext,
  /** Attribute trees the stage checksums of this build read (taken instead of read again). */
  trees?: XattrTrees,
): Promise<FsState> {
  const base = op.base === null ? SCRATCH : await materialize(sn, inputs[op.base]);
  const srcIdx = [
    ...new Set(op.actions.flatMap((a) => (a.action === 'copy' && a.src !== null ? [a.src] : []))),
  ];
  // A lone COPY of a context directory may reuse the unchanged files of its previous result.
  const only = op.actions.length === 1 && op.actions[0].action === 'copy' ? op.actions[0] : undefined;
  const labels: Record<string, string> = {};
  const commitOpts: SnapshotOptions = { labels };
  // The layers of a stage a COPY --from links from, their attributes read (prefetch) while this
  // step's snapshot and mounts are made.
  const links = new Map<CopyAction, Promise<LayerLinks | undefined>>();
  for (const a of op.actions) {
    const src = a.action === 'copy' && a.src !== null ? inputs[a.src] : undefined;
    if (a.action !== 'copy' || src?.kind !== 'fs') continue;
    const made = layerLinks(sn, src, trees).then((l) => {
      for (const p of a.srcPaths) {
        const rel = literalSource(p);
        if (rel !== undefined) l?.prefetch(rel);
      }
      return l;
    });
    made.catch(() => {}); // awaited by the copy; a step failing before it must not leave it unhandled
    links.set(a, made);
  }
  return commitStep(
    sn,
    base,
    'file',
    (active) =>
      withStatePaths(
        sn,
        srcIdx.map((i) => inputs[i]),
        async (srcDirs) => {
          let reused: Set<string> | undefined;
          const onlySrc = only && only.src !== null ? inputs[only.src] : undefined;
          if (only && onlySrc?.kind === 'dir') {
            const srcRel = reusableSource(only, onlySrc, srcDirs[0]);
            if (srcRel !== undefined) {
              labels[STEP_LABEL] = ctx.id;
              commitOpts.lineage = stepLineage(ctx.id, top(base));
              const r = await reusePrevious(sn, ctx.id, top(base), active, {
                srcRoot: srcDirs[0],
                srcRel,
                dest: absolute(op.cwd, only.dest),
                excludePatterns: onlySrc.excludePatterns,
              });
              reused = r.linked;
              if (r.donor) labels[DONOR_LABEL] = r.donor;
            }
          }
          // The file operations load on first use: a fully cached build runs none.
          const { copy, mkdir, mkfile, rm, symlink } = await import('../fileops/index.ts');
          // Overlay's upper dir: where COPY writes the files going into directories it creates,
          // and links the files of a context kiln extracted or of a stage's layers.
          const linking = srcIdx.some((i) => {
            const s = inputs[i];
            return (s.kind === 'dir' && s.extracted === true) || s.kind === 'fs';
          });
          const upper = srcIdx.length > 0 ? await sn.ownDir(active) : undefined;
          await sn.withMounted(active, async (destRoot) => {
            try {
              await runActions(destRoot);
            } catch (err) {
              // EPERM/EINVAL from lchown and the like: name the privilege (isolation/privilege.ts).
              throw (
                privilegeError(err, destRoot, op.actions[0]?.action === 'copy' ? 'COPY' : 'this step') ?? err
              );
            }
          });
          async function runActions(destRoot: string): Promise<void> {
            for (const a of op.actions) {
              ctx.signal.throwIfAborted();
              if (a.action === 'copy') {
                const src = a.src === null ? undefined : inputs[a.src];
                const srcRoot = a.src === null ? undefined : srcDirs[srcIdx.indexOf(a.src)];
                if (!src || !srcRoot)
                  throw new KilnError(
                    'FILEOP_NOT_FOUND',
                    `COPY from an empty filesystem: ${a.srcPaths.join(' ')} not found`,
                  );
                await copy({
                  srcRoot,
                  srcPaths: a.srcPaths,
                  destRoot,
                  dest: absolute(op.cwd, a.dest),
                  chown: a.chown,
                  defaultOwner: src.kind === 'dir' ? { uid: 0, gid: 0 } : undefined,
                  chmod: a.chmod,
                  followSymlinks: a.followSymlinks,
                  dirContentsOnly: a.dirContentsOnly,
                  allowWildcard: a.allowWildcard,
                  allowEmptyWildcard: a.allowEmptyWildcard,
                  createDestPath: a.createDestPath,
                  exclude: a.excludePatterns,
                  srcExcludePatterns: src.kind === 'dir' ? src.excludePatterns : undefined,
                  localContext: src.kind === 'dir',
                  parents: a.parents,
                  unpack: a.unpack,
                  mtime: a.createdTime === undefined ? undefined : new Date(a.createdTime * 1000),
                  // File capabilities and other xattrs travel with the files, as in BuildKit.
                  xattrs: true,
                  knownXattrs: knownXattrs(src, trees),
                  reused,
                  linkSources: src.kind === 'dir' && src.extracted === true,
                  layerLinks: upper !== undefined ? await links.get(a) : undefined,
                  destUpper: upper ?? (linking ? destRoot : undefined),
                  onlyAction: op.actions.length === 1,
                });
              } else if (a.action === 'mkdir') {
                mkdir(destRoot, absolute(op.cwd, a.path), {
                  mode: a.mode,
                  makeParents: a.makeParents,
                  chown: a.chown,
                  mtime: a.createdTime === undefined ? undefined : new Date(a.createdTime * 1000),
                });
              } else if (a.action === 'mkfile') {
                mkfile(destRoot, absolute(op.cwd, a.path), a.data, { mode: a.mode, chown: a.chown });
              } else if (a.action === 'rm') {
                rm(destRoot, absolute(op.cwd, a.path), {
                  allowNotFound: a.allowNotFound,
                  allowWildcard: a.allowWildcard,
                });
              } else {
                symlink(destRoot, a.oldpath, absolute(op.cwd, a.newpath), { chown: a.chown });
              }
            }
          }
        },
      ),
    commitOpts,
  );
}

/**
 * The layers of a stage or image a COPY --from reads, top first, for linking its files instead
 * of copying them (fileops/layer-links.ts): only where each layer has its own directory (overlay).
 */
async function layerLinks(
  sn: Snapshotter,
  src: FsState,
  trees?: XattrTrees,
): Promise<LayerLinks | undefined> {
  const dirs: string[] = [];
  for (const layer of [...src.layers].reverse()) {
    const dir = await sn.ownDir(layer.snapshot);
    if (dir === undefined) return undefined;
    dirs.push(dir);
  }
  if (dirs.length === 0) return undefined;
  const { LayerLinks } = await import('../fileops/layer-links.ts');
  return new LayerLinks(dirs, trees && ((dir, rel) => trees.take(dir, rel)));
}
