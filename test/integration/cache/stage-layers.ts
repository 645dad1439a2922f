/**
 * What the COPY --from checksum tests build on: a real overlay snapshotter in a temp dir (opened
 * before the file's tests, released after), committed layers written straight into their upper
 * dirs, the FsState of a stack of them, and a COPY --from action with the Dockerfile's defaults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { CopyAction } from '../../../src/graph/ops.ts';
import type { Snapshotter } from '../../../src/snapshot/snapshotter.ts';
import { openSnapshotter } from '../../../src/store/snapshots.ts';
import type { FsState } from '../../../src/worker/state.ts';

export interface StageLayers {
  /** The snapshotter and its temp dir (set once the file's `before` hook has run). */
  readonly sn: Snapshotter;
  readonly tmp: string;
  /** A committed snapshot over `parent` whose own files `fill` writes (into its upper dir). */
  layer(fill: (dir: string) => void, parent?: string): Promise<string>;
}

/** An overlay snapshotter for this test file, with its before/after hooks registered. */
export function stageLayers(prefix: string): StageLayers {
  let tmp: string;
  let sn: Snapshotter | undefined;
  let n = 0;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), prefix));
    sn = await openSnapshotter(join(tmp, 'snapshots'), 'overlay');
  });
  after(async () => {
    await sn?.release();
    await rm(tmp, { recursive: true, force: true });
  });
  const self: StageLayers = {
    get sn() {
      if (!sn) throw new Error('the snapshotter opens in the before hook');
      return sn;
    },
    get tmp() {
      return tmp;
    },
    async layer(fill, parent) {
      const active = `active-${++n}`;
      await self.sn.prepare(active, parent);
      fill((await self.sn.ownDir(active)) as string);
      const name = `layer-${n}`;
      await self.sn.commit(name, active);
      return name;
    },
  };
  return self;
}

/** The filesystem state of committed snapshots, lowest first. */
export const fsState = (...snapshots: string[]): FsState => ({
  kind: 'fs',
  layers: snapshots.map((snapshot) => ({ snapshot })),
});

/** A COPY --from of `srcPaths` to /dest with the Dockerfile's defaults. */
export const copyFromAction = (srcPaths: string[]): CopyAction => ({
  action: 'copy',
  src: 1,
  srcPaths,
  dest: '/dest',
  followSymlinks: true,
  dirContentsOnly: true,
  allowWildcard: true,
  allowEmptyWildcard: false,
  createDestPath: true,
  includePatterns: [],
  excludePatterns: [],
  parents: false,
  unpack: false,
  link: false,
});
