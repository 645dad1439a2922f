/**
 * A directory state where a filesystem is needed (a named context used as a stage's base, as in
 * `--build-context base=dir` + `FROM base`): its contents, filtered as the local source says,
 * copied into a fresh snapshot owned by root, as BuildKit's local source would present them.
 */
import { randomUUID } from 'node:crypto';
import { copy } from '../fileops/index.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { BuildState, FsState } from './state.ts';

export async function materialize(sn: Snapshotter, state: BuildState): Promise<FsState> {
  if (state.kind === 'fs') return state;
  const key = `dir-${randomUUID()}`;
  await sn.prepare(key);
  let committed = false;
  try {
    await sn.withMounted(key, (root) =>
      copy({
        srcRoot: state.dir,
        srcPaths: ['.'],
        destRoot: root,
        dest: '/',
        defaultOwner: { uid: 0, gid: 0 },
        dirContentsOnly: true,
        createDestPath: true,
        followSymlinks: true,
        srcExcludePatterns: state.excludePatterns,
      }),
    );
    const name = `snap-${randomUUID()}`;
    await sn.commit(name, key);
    committed = true;
    return { kind: 'fs', layers: [{ snapshot: name, created: new Date().toISOString() }] };
  } finally {
    if (!committed) await sn.remove(key).catch(() => {});
  }
}
