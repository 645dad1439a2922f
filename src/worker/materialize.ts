/**
 * A directory state where a filesystem is needed (a named context used as a stage's base, as in
 * `--build-context base=dir` + `FROM base`): its contents, filtered as the local source says,
 * copied into a fresh snapshot owned by root, as BuildKit's local source would present them.
 */
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { type BuildState, type FsState, SCRATCH } from './state.ts';
import { commitStep } from './step.ts';

export async function materialize(sn: Snapshotter, state: BuildState): Promise<FsState> {
  if (state.kind === 'fs') return state;
  return commitStep(sn, SCRATCH, 'dir', (key) =>
    sn.withMounted(key, async (root) => {
      const { copy } = await import('../fileops/index.ts');
      return copy({
        srcRoot: state.dir,
        srcPaths: ['.'],
        destRoot: root,
        dest: '/',
        defaultOwner: { uid: 0, gid: 0 },
        dirContentsOnly: true,
        createDestPath: true,
        followSymlinks: true,
        srcExcludePatterns: state.excludePatterns,
      });
    }),
  );
}
