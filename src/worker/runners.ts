/**
 * The worker side of each graph op for one build: base images, local contexts, downloads,
 * git checkouts, RUN and file ops, merges, and the context checksums that key the cache. The
 * solver's jobs (`jobs.ts`) call these directly; the build hands in only plain values.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type ChecksumOptions, checksum, checksumInSteps } from '../context/checksum.ts';
import type { DigestCache } from '../context/digestcache.ts';
import type { InodeDigests } from '../context/inodedigests.ts';
import { prestatFor } from '../context/prestat.ts';
import { KilnError } from '../errors/errors.ts';
import type { Executor } from '../executor/executor.ts';
import { cloneGit } from '../git/clone.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { Store } from '../store/store.ts';
import { Semaphore } from '../sys/limit.ts';
import { runExec, secretSource } from './exec.ts';
import { runFileOp } from './fileop.ts';
import type { BaseImages } from './images.ts';
import type { OpRunners } from './jobs.ts';
import { mergeStates } from './merge.ts';
import type { SecretSpecLike } from './secrets.ts';
import { literalSource, type SumStore, stageChecksum, XattrTrees } from './stage-checksum.ts';
import type { DirState } from './state.ts';

export interface RunnerDeps {
  store: Store;
  snapshotter: Snapshotter;
  executor: Executor;
  images: BaseImages;
  digests: DigestCache;
  /** Digests of committed snapshots' files, by inode (COPY --from's checksums). */
  inodes?: InodeDigests;
  /** Where checksums of what COPY --from read of a snapshot are kept (the build cache). */
  cache?: SumStore;
  /** Local source name → directory ('context' is the main one). */
  contexts: Record<string, string>;
  /** Most bytes an ADD download may have (default fileops/remote.ts MAX_ADD_DOWNLOAD_BYTES). */
  maxDownloadBytes?: number;
  /** Local sources kiln extracted itself (BuildInput.extracted): COPY may hard-link their files. */
  extracted?: readonly string[];
  /** `--secret`s, read by the RUN that mounts one. */
  secrets: SecretSpecLike[];
  /** `--ssh` agents: an id and its sockets (none: $SSH_AUTH_SOCK). */
  ssh: { id: string; paths: string[] }[];
  /** Temp dirs to remove when the build ends. */
  temps: string[];
}

function sshMap(ssh: RunnerDeps['ssh']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of ssh) {
    const sock = s.paths[0] ?? process.env.SSH_AUTH_SOCK;
    if (sock) out[s.id] = sock;
  }
  return out;
}

/** One entry a context walk read: path, type, mode, content digest (as checksum's `visit` tells it). */
type WalkEntry = [string, string, number, string];

/** The most entries of one context walk kept for the explainer to replay (~100 bytes each). */
const MAX_RECORDED_WALK = 50_000;
/** Bumped when what a context checksum covers changes: sums kept by tree (treeSum) then miss. */
const TREE_SUM_VERSION = 'context-tree/1';

export function makeRunners(d: RunnerDeps): OpRunners {
  const sn = d.snapshotter;
  const walks = new Map<string, { entries: WalkEntry[]; sum: string }>();
  const oneWalk = new Semaphore(1);
  // What a COPY --from's checksum read of extended attributes, for the copy (one getfattr walk).
  const trees = new XattrTrees();
  const sums = new Map<string, Promise<string>>();
  const tmpDir = async (prefix: string) => {
    const dir = join(d.store.root, 'tmp', `${prefix}-${randomUUID()}`);
    await mkdir(dir, { recursive: true });
    d.temps.push(dir);
    return dir;
  };
  const execDeps = {
    snapshotter: sn,
    executor: d.executor,
    stateRoot: d.store.root,
    secrets: secretSource(d.secrets),
    ssh: sshMap(d.ssh),
  };
  return {
    async image(op) {
      return d.images.unpack(await d.images.resolve(op.ref, op.platform), sn);
    },
    async local(op) {
      const dir = d.contexts[op.name];
      if (!dir) {
        throw new KilnError('CONTEXT_NOT_FOUND', `build context "${op.name}" was not provided`, {
          hint: `pass it with --build-context ${op.name}=DIR`,
        });
      }
      return {
        kind: 'dir',
        dir,
        excludePatterns: op.excludePatterns,
        includePatterns: op.includePatterns,
        ...(d.extracted?.includes(op.name) ? { extracted: true } : {}),
      } satisfies DirState;
    },
    async http(op, ctx) {
      const { fetchRemote } = await import('../fileops/remote.ts');
      const f = await fetchRemote(op.url, {
        checksum: op.checksum,
        signal: ctx.signal,
        maxBytes: d.maxDownloadBytes,
      });
      d.temps.push(f.dir);
      // The converter names the file the copy reads (ADD's destination name rules).
      if (op.filename && op.filename !== f.name) await rename(join(f.dir, f.name), join(f.dir, op.filename));
      return { kind: 'dir', dir: f.dir, excludePatterns: [], includePatterns: [] } satisfies DirState;
    },
    async git(op, ctx) {
      const dir = await cloneGit(op, await tmpDir('git'), ctx.signal);
      return { kind: 'dir', dir, excludePatterns: [], includePatterns: [] } satisfies DirState;
    },
    exec: (op, inputs, ctx, extraEnv, started) => runExec(execDeps, op, inputs, ctx, extraEnv, started),
    file: (op, inputs, ctx) => runFileOp(sn, op, inputs, ctx, trees),
    merge: (inputs, ctx) => mergeStates(sn, inputs, ctx),
    // One in flight per state and copies: a RUN's read ahead (jobs.ts) and a COPY run ahead on
    // the same state (Job.preview) ask for the same one at once; the sum it stores answers later.
    stageChecksum(state, copies, signal) {
      const key = JSON.stringify([state.layers.map((l) => l.snapshot), copies]);
      let sum = sums.get(key);
      if (!sum) {
        sum = stageChecksum(sn, d.cache, state, copies, signal, trees, d.inodes).finally(() =>
          sums.delete(key),
        );
        sums.set(key, sum);
      }
      return sum;
    },
    async layerTreesAhead(state, copies) {
      const dirs: string[] = [];
      for (const layer of state.layers) {
        const dir = await sn.ownDir(layer.snapshot);
        if (dir === undefined) return;
        dirs.push(dir);
      }
      const { readLayerTrees } = await import('../fileops/layer-links.ts');
      for (const c of copies) {
        for (const p of c.srcPaths) {
          const rel = literalSource(p);
          if (rel === undefined) continue;
          for (const [dir, tree] of await readLayerTrees(dirs, rel)) trees.keep(dir, rel, tree);
        }
      }
    },
    // Read when a step asks (a snapshotter opened on first use knows its driver only then).
    get cheapViews() {
      return sn.driver === 'overlay';
    },
    async dirChecksum(dir, paths, copy, visit, inSlices) {
      // The cache key's walk records what it read, so that explaining a miss (which asks again,
      // with `visit`) replays it instead of walking the context a second time. Bounded: a walk
      // of more entries than that is not kept, and the explainer walks again.
      const key = JSON.stringify([dir.dir, dir.excludePatterns, dir.includePatterns, paths, copy ?? null]);
      if (visit) {
        const seen = walks.get(key);
        if (seen) {
          for (const e of seen.entries) visit(e[0], e[1], e[2], e[3]);
          return seen.sum;
        }
      }
      // The whole tree as the launcher's pre-stat saw it (prestat.ts): when it is as it was when
      // this same checksum was last taken, that checksum is the answer, and nothing is walked
      // (a warm 20,000-file build: ~35 ms of the main thread). Not when explaining (`visit`).
      const pre = visit ? undefined : prestatFor(dir.dir);
      const tree = pre?.fingerprint();
      const what = JSON.stringify([TREE_SUM_VERSION, key]);
      const known = tree && d.digests.treeSum(dir.dir, tree.digest, what);
      if (known) return known;
      let entries: WalkEntry[] | undefined = visit ? undefined : [];
      const opts: ChecksumOptions = {
        root: dir.dir,
        paths: paths.map((p) => (p === '/' ? '.' : p)),
        wildcard: copy?.allowWildcard ?? false,
        followSymlinks: copy?.followSymlinks ?? true,
        excludePatterns: dir.excludePatterns,
        copyExcludePatterns: copy?.excludePatterns,
        allowEmptyWildcard: copy?.allowEmptyWildcard ?? false,
        localContext: true,
        cache: d.digests,
        visit:
          visit ??
          ((path, type, mode, content) => {
            if (entries && entries.push([path, type, mode, content]) > MAX_RECORDED_WALK) entries = undefined;
          }),
      };
      // In slices when other steps run meanwhile (a FROM, a `RUN apt-get` before the COPY), whole
      // otherwise (each slice's turn of the event loop cost a warm 20,000-file build ~4%). One
      // context walk at a time: the digest cache follows one walk, and releases its rows after it.
      const sum = await oneWalk.use(async () => {
        try {
          return inSlices ? await checksumInSteps(opts) : checksum(opts);
        } finally {
          d.digests.release();
        }
      });
      if (entries) walks.set(key, { entries, sum });
      // Kept only when the walk was the pre-stat's from start to end: a pre-stat closed meanwhile
      // (stalled, too old) let the walk read directories itself, later than the fingerprint.
      if (tree?.quiet && pre && !pre.closed) d.digests.putTreeSum(dir.dir, tree.digest, what, sum);
      return sum;
    },
  };
}
