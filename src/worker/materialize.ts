/**
 * A directory state where a filesystem is needed (a named context used as a stage's base, as in
 * `--build-context base=dir` + `FROM base`): its contents, filtered as the local source says,
 * copied into a fresh snapshot owned by root, as BuildKit's local source would present them.
 */
import { KilnError } from '../errors/errors.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { type BuildState, type DirState, type FsState, SCRATCH } from './state.ts';
import { commitStep } from './step.ts';

export async function materialize(sn: Snapshotter, state: BuildState): Promise<FsState> {
  if (state.kind === 'fs') return state;
  return commitStep(sn, SCRATCH, 'dir', (key) => sn.withMounted(key, (root) => copyDirState(state, root)));
}

/**
 * What a build may read of a directory state (its .dockerignore applied), copied into `dest`
 * through COPY's race-checked copy, owned by root as BuildKit presents a local source.
 */
export async function copyDirState(state: DirState, dest: string): Promise<void> {
  if (state.includePatterns.length > 0) {
    throw new KilnError(
      'CONTEXT_FILTER_UNSUPPORTED',
      'a directory source with include patterns cannot be used whole',
      {
        hint: 'use it through COPY, which applies include patterns',
      },
    );
  }
  const { copy } = await import('../fileops/index.ts');
  await copy({
    srcRoot: state.dir,
    srcPaths: ['.'],
    destRoot: dest,
    dest: '/',
    defaultOwner: { uid: 0, gid: 0 },
    dirContentsOnly: true,
    createDestPath: true,
    followSymlinks: true,
    localContext: true,
    srcExcludePatterns: state.excludePatterns,
  });
}
