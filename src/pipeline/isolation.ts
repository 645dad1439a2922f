/**
 * The snapshotter and executor a build's isolation mode (isolation/mode.ts) runs on: `oci` as
 * ever (overlay when it mounts, runc), `rootless` (native snapshots, runc --rootless, inside
 * kiln's own user namespace), `chroot` (native snapshots, each RUN chrooted, nothing mounted).
 */
import { join } from 'node:path';
import type { Executor } from '../executor/executor.ts';
import { checkIsolation, chooseIsolation, type Isolation } from '../isolation/mode.ts';
import { namespaceNeeded } from '../isolation/outside.ts';
import type { ReportedStep } from '../progress/step.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { attachSnapshotter, openSnapshotterWhenUsed } from '../store/snapshots.ts';

export interface Isolated {
  mode: Isolation;
  snapshotter: Snapshotter;
  /** Loaded on first use: a fully cached build never starts a container. */
  executor: Executor;
}

/**
 * Choose the mode (`requested`, else KILN_ISOLATION, else what this process can do), check it
 * can work, say it under the definition step when it is not the usual `oci`, and open its parts.
 * `outside`: rootless kiln before it enters its user namespace (isolation/outside.ts): the
 * snapshots can be looked up and held but not used, and nothing can run.
 */
export async function openIsolated(
  root: string,
  requested: Isolation | undefined,
  step: ReportedStep,
  outside = false,
): Promise<Isolated> {
  const chosen = chooseIsolation(requested);
  if (outside) {
    if (chosen.mode !== 'rootless') throw namespaceNeeded(`--isolation ${chosen.mode}`);
    // Held back by the caller and shown only when the build succeeded here (cli/isolation.ts).
    step.note(`isolation: rootless (${chosen.why}; every step cached: outside kiln's user namespace)`);
    const snapshotter = await attachSnapshotter(join(root, 'snapshots'), namespaceNeeded);
    const run = async (): Promise<never> => {
      throw namespaceNeeded('a step that runs');
    };
    return { mode: chosen.mode, snapshotter, executor: { canMount: true, run } };
  }
  checkIsolation(chosen.mode);
  if (chosen.mode !== 'oci') step.note(`isolation: ${chosen.mode} (${chosen.why})`);
  const snapshotter = await openModeSnapshotter(root, chosen.mode);
  let loaded: Promise<Executor> | undefined;
  const load = (): Promise<Executor> => {
    if (chosen.mode === 'chroot') {
      return import('../executor/chroot/chroot.ts').then((m) => new m.ChrootExecutor({ stateRoot: root }));
    }
    return import('../executor/runc/runc.ts').then(
      (m) => new m.RuncExecutor({ stateRoot: root, rootless: chosen.mode === 'rootless' }),
    );
  };
  const executor: Executor = {
    canMount: chosen.mode !== 'chroot',
    run: async (spec, io) => {
      loaded ??= load();
      return (await loaded).run(spec, io);
    },
    settle: async () => {
      if (loaded) await (await loaded.catch(() => undefined))?.settle?.();
    },
  };
  return { mode: chosen.mode, snapshotter, executor };
}

/**
 * The snapshotter a build in `mode` uses under state root `root` (also `kiln pull --unpack`, so
 * that the snapshots it makes are the ones a build finds). chroot mode cannot mount, so it copies
 * snapshots; rootless mounts overlay inside its user namespace where the kernel allows (5.11+,
 * `userxattr`), else copies too.
 */
export function openModeSnapshotter(root: string, mode: Isolation): Promise<Snapshotter> {
  return openSnapshotterWhenUsed(join(root, 'snapshots'), mode === 'chroot' ? 'native' : 'auto');
}
