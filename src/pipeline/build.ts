/**
 * The library's front door: `build(options)` reads as input → plan → solve → export → outputs.
 * `plan()` reads the Dockerfile and context and converts it to a graph per platform; the solver
 * runs each graph with the instruction cache through the worker; the exporter exports layers
 * (the result's as soon as their steps commit) and images and writes the requested outputs.
 * Everything runs under a content-store lease and a snapshot hold scope, so a concurrent
 * `kiln prune` or `kiln builder prune` never removes a blob or snapshot this build writes or reads.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildCache } from '../cache/build-cache.ts';
import { applyGcPolicy, loadGcPolicy } from '../cache/gc.ts';
import { DigestCache } from '../context/digestcache.ts';
import { InodeDigests } from '../context/inodedigests.ts';
import { diskFull, hasCode, isDiskFull, type KilnError, withLocation } from '../errors/errors.ts';
import type { Executor } from '../executor/executor.ts';
import type { StepNote } from '../explain/explainer.ts';
import { BuildSession } from '../explain/session.ts';
import { checkSinglePlatform } from '../exporter/annotations.ts';
import type { OutputResult } from '../exporter/outputs.ts';
import {
  layerChain,
  type PlatformResult,
  type PlatformState,
  ResultExport,
  writeOutputs,
} from '../exporter/result.ts';
import { namespaceNeeded } from '../isolation/outside.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { isIndexType } from '../oci/mediatypes.ts';
import { formatPlatform } from '../oci/platform.ts';
import { discardProgress, type ProgressSink } from '../progress/events.ts';
import type { CredentialLookup } from '../registry/auth.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { Solver } from '../solver/solver.ts';
import { sweepLeftovers } from '../store/leftovers.ts';
import { openStore, type Store } from '../store/store.ts';
import type { BaseImages } from '../worker/images.ts';
import { jobsFor, resetIgnoredCacheMounts, validatedCache } from '../worker/jobs.ts';
import { materialize } from '../worker/materialize.ts';
import { makeRunners } from '../worker/runners.ts';
import { checkSecrets } from '../worker/secrets.ts';
import { attestRequest } from './attest.ts';
import { baseImages } from './bases.ts';
import { resolverFor } from './frontend.ts';
import type { BuildInput } from './input.ts';
import { openIsolated } from './isolation.ts';
import { type BuildOptions, type BuildRequest, checkSsh, withDefaults } from './options.ts';
import { resolveOutputs } from './output-spec.ts';
import { type Plan, plan, planPlatforms } from './plan.ts';
import { definitionStep, HeldProgress, MetadataSteps, reportConversion } from './steps.ts';
import type { BuildTravel } from './travelling-cache.ts';

export type { PlatformResult };

export interface BuildResult {
  /**
   * What was exported: a manifest, or an index for several platforms. Absent when no output is
   * an image (only type=local or type=tar): then no layer is exported at all, as in BuildKit.
   */
  root?: Descriptor;
  /** The image ID docker would print: the config digest for one platform, else the index digest. */
  imageId?: string;
  /** Per platform, the manifest written (empty when no image was exported). */
  platforms: PlatformResult[];
  outputs: OutputResult[];
  warnings: string[];
  /** This build's id in `kiln history` (and `kiln report ID`). */
  buildId: string;
  /** Each step that consulted the cache: hit (and where from) or miss and why. */
  explained: StepNote[];
}

export interface BuildEnv {
  /** State root (default: KILN_ROOT or the system default). */
  root?: string;
  store?: Store;
  stdout?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
  /**
   * Registry credentials for base images and pushes; default: the user's docker config and
   * credential helpers. A server passes its client's, never its own.
   */
  credentials?: CredentialLookup;
  /**
   * Rootless kiln before it enters its user namespace (isolation/outside.ts): the build succeeds
   * only when it needs nothing the namespace gives (every step cached, every layer exported
   * before, every base image local, outputs into the image store); anything else fails with
   * NAMESPACE_NEEDED before it changes anything, and leaves no history entry.
   */
  outsideNamespace?: boolean;
}

/**
 * Build as `kiln build` does. Only `context` is needed: what else is left out gets the CLI's
 * default (`withDefaults`), so `build({ context: '.', tags: ['app:1'] })` stores `app:1`.
 */
export async function build(request: BuildRequest, env: BuildEnv = {}): Promise<BuildResult> {
  const opts = withDefaults(request, (tags) => resolveOutputs([], tags, false, false));
  // Secrets and the ssh agent are checked up front, as BuildKit does; a secret is read only by
  // the RUN that mounts it.
  await checkSecrets(opts.secrets);
  checkSsh(opts.ssh);
  const store = env.store ?? openStore(env.root);
  const outside = env.outsideNamespace === true;
  if (outside) {
    // Pruning after the build removes snapshots, and a travelling cache imports them.
    const { rootConfigPath } = await import('../store/limits.ts');
    const needs =
      opts.cacheFrom?.length || opts.cacheTo?.length
        ? '--cache-from/--cache-to'
        : (await loadGcPolicy(rootConfigPath(store.root)))
          ? "the build cache's [gc] policy"
          : undefined;
    if (needs) {
      if (!env.store) store.close();
      throw namespaceNeeded(needs);
    }
  }
  const startedOn = new Date();
  // History and cache-miss explanations watch the build's progress (explain/session.ts).
  const session = new BuildSession({
    ...opts,
    root: store.root,
    platforms: opts.platforms.map(formatPlatform),
  });
  const progress = session.tap(opts.progress ?? discardProgress);
  // A build after a killed one must not leave that one's secrets mounted (one readdir or two).
  // (Rootless kiln's leftovers are its namespace's: removed by the next build that enters it.)
  if (!outside) await sweepLeftovers(store.root);
  const definition = definitionStep(progress, opts.dockerfile).start();
  const cache = new BuildCache(join(store.root, 'buildcache.db'));
  const digests = DigestCache.open(join(store.root, 'context-digests.db'));
  const inodes = InodeDigests.open(join(store.root, 'snapshot-digests.db'));
  const temps: string[] = [];
  let snapshotter: Snapshotter | undefined;
  let executor: Executor | undefined;
  let input: BuildInput | undefined;
  let result: ResultExport | undefined;
  /** The build has failed: a failure while cleaning up does not replace its error. */
  let failed = false;
  const platforms = planPlatforms(opts);
  // Base images resolve while the Dockerfile converts; their steps show after the definition's.
  const held = new HeldProgress(progress);
  const metadata = new MetadataSteps(held.sink, platforms.length > 1);
  const { images, registry } = baseImages(
    store,
    { ...opts, credentials: env.credentials, localOnly: outside },
    (ref) => (e) => held.sink(e.type === 'status' ? { ...e, vertex: e.vertex ?? metadata.vertexOf(ref) } : e),
  );
  try {
    const built = await store.withLease(async () => {
      // This build's hold scope: what it builds on stays until it ends (released below).
      // The isolation mode picks the snapshotter and the executor (runc, runc --rootless, chroot),
      // which loads on first use: a fully cached build needs none, and is mostly start-up.
      const isolated = await openIsolated(store.root, opts.isolation, definition, outside);
      const sn = isolated.snapshotter;
      snapshotter = sn;
      executor = isolated.executor;
      // Input and plan: the graph of every platform.
      let loaded = 0;
      const planned = await plan(opts, {
        stdin: () => env.stdin ?? process.stdin,
        tmpDir: join(store.root, 'tmp'),
        onInput: (i) => {
          input = i;
          loaded = Date.now();
          definition.note('transferring dockerfile:', Buffer.byteLength(i.dockerfileText), loaded);
        },
        resolver: (i) => {
          for (const l of i.layoutImages) images.provide(l.ref, l.source);
          return resolverFor(images, metadata);
        },
        converting: (i, graphs) => reportConversion(progress, definition, i, loaded, held, graphs),
        // A gateway frontend (`# syntax=IMAGE`) runs in this build's worker.
        worker: { images, snapshotter: sn, executor, stateRoot: store.root, signal: opts.signal },
      });
      // A single-platform image has no index: BuildKit refuses index annotations for it (here
      // before anything is built).
      if (planned.platforms.length === 1) for (const o of opts.outputs) checkSinglePlatform(o.annotations);
      // check=error=true: the warnings are shown (above), then the build stops before it runs.
      const lintError = planned.graphs.find((c) => c.lintError)?.lintError;
      if (lintError) throw lintError;
      // Solve, exporting the result's layers as their steps commit.
      result = new ResultExport(
        { snapshotter: sn, content: store.content, cache, progress },
        opts.outputs,
        opts.sourceDateEpoch,
        { squash: opts.squash, attest: attestRequest(opts, planned, session.record.id, startedOn) },
      );
      // --cache-from / --cache-to (pipeline/travelling-cache.ts): imported records answer local
      // misses, every result is recorded for the export. Loaded only when asked for.
      const travelWarnings: string[] = [];
      const travel =
        opts.cacheFrom?.length || opts.cacheTo?.length
          ? await (await import('./travelling-cache.ts')).BuildTravel.open(opts, {
              store,
              snapshotter: sn,
              images,
              registry,
              progress,
              warnings: travelWarnings,
              platform: planned.platforms[0],
            })
          : undefined;
      const solved = await solve(
        planned,
        opts,
        {
          store,
          snapshotter: sn,
          executor,
          images,
          digests,
          inodes,
          cache,
          temps,
          progress,
          session,
          travel,
        },
        result,
      );
      // --cache-to type=inline: the image carries its own cache record (a manifest annotation).
      if (travel) result.annotate(travel.inlineAnnotations(solved));
      // Export and outputs.
      const outputs = await writeOutputs(result, opts.outputs, solved, {
        content: travel ? travel.content(store.content) : store.content,
        mountFrom: travel?.mountFrom,
        images: store.images,
        snapshotter: sn,
        registry,
        stdout: env.stdout ?? process.stdout,
        signal: opts.signal,
        progress,
      });
      await travel?.export(
        solved.map((p) => p.state),
        planned.graphs.flatMap((c) => (c.root ? [c.root] : [])),
        result.layers,
      );
      const exported = result.primary ? await result.image(result.primary, solved) : undefined;
      const results = exported?.platforms ?? [];
      // An index (several platforms, or attestations) is its own ID, as `kiln images` shows it.
      const imageId =
        exported && (isIndexType(exported.root.mediaType) ? exported.root.digest : results[0].configDigest);
      session.succeeded(
        exported && { digest: exported.root.digest, mediaType: exported.root.mediaType, id: imageId },
      );
      return {
        root: exported?.root,
        imageId,
        platforms: results,
        outputs,
        warnings: [...planned.warnings, ...travelWarnings],
        buildId: session.record.id,
        explained: [...session.notes().values()],
      };
    });
    // kiln.toml [gc]: the build cache stays within the root's policy (one stat when there is none;
    // none at all outside the namespace, which was checked to have none before it started).
    if (!outside) await applyGcPolicy(store.root, cache);
    return built;
  } catch (err) {
    failed = true;
    // The steps' layers are exported while the build runs: those still writing are cut and
    // waited for, so that none leaves a half-written blob when kiln reports the failure.
    await result?.layers.abandon(err instanceof Error ? err : new Error(String(err)));
    // Whatever ran out of room (a snapshot, a runc bundle, a cache database) says so the same way;
    // an output the user named (a file, a device) is not the state root and says so itself.
    let failure = err;
    if (isDiskFull(err) && !hasCode(err, 'OUTPUT_WRITE_FAILED')) {
      const full = diskFull(store.root, err);
      const at = (err as KilnError).location;
      failure = at ? withLocation(full, at) : full;
    }
    // A build that must run again inside the namespace is not this build's story.
    if (hasCode(failure, 'NAMESPACE_NEEDED')) session.discard();
    else session.failed(failure, opts.signal?.aborted ?? false);
    // Anything that fails before the Dockerfile is converted fails the definition step.
    throw definition.fail(failure, opts.signal?.aborted);
  } finally {
    session.finish();
    // An export started early for a step whose result the build did not take (a COPY made ahead).
    await result?.layers.settled();
    try {
      // Before the snapshotter's release, which starts a `sync -f` of the root's filesystem: a
      // database's close checkpoints it and fsyncs, and on ext4 that fsync waited behind the
      // whole filesystem's writeback (55-90 ms at the end of a cold W1 or W2; more back to back).
      cache.close();
      digests.close();
      inodes.close();
      if (!env.store) store.close();
    } finally {
      await snapshotter?.release();
      try {
        // What RUNs left going, not waited for by their steps: a network helper stopping (a few
        // ms), a rootfs unmounting (up to ~100 ms after a big RUN).
        await executor?.settle?.().catch((err: unknown) => {
          if (!failed) throw err;
        });
      } finally {
        await input?.cleanup();
        for (const t of temps) await rm(t, { recursive: true, force: true });
      }
    }
  }
}

interface SolveDeps {
  store: Store;
  snapshotter: Snapshotter;
  images: BaseImages;
  digests: DigestCache;
  inodes: InodeDigests;
  cache: BuildCache;
  /** Temp dirs to remove when the build ends. */
  temps: string[];
  progress: ProgressSink;
  executor: Executor;
  /** History and cache-miss explanations (explain/session.ts). */
  session: BuildSession;
  /** The travelling cache, when --cache-from or --cache-to is given. */
  travel?: BuildTravel;
}

/** Solve every platform's graph through the worker; each result as a filesystem. */
async function solve(
  planned: Plan,
  opts: BuildOptions,
  d: SolveDeps,
  result: ResultExport,
): Promise<PlatformState[]> {
  const runners = makeRunners({
    ...d,
    contexts: planned.input.contexts,
    extracted: planned.input.extracted,
    maxDownloadBytes: opts.maxRemoteContextBytes,
    secrets: opts.secrets,
    ssh: opts.ssh,
  });
  const local = validatedCache(d.cache, d.snapshotter, d.store.content);
  const solver = new Solver({
    cache: d.travel ? d.travel.wrap(local) : local,
    explainer: d.session.explainerFor((dir, paths, copy, visit) =>
      runners.dirChecksum(dir, paths, copy, visit),
    ),
    parallelism: opts.parallelism ?? 4,
    progress: d.progress,
    signal: opts.signal,
  });
  const ignoreCache = () => opts.noCache;
  const roots = planned.graphs.flatMap((c) => (c.root ? [c.root] : []));
  await resetIgnoredCacheMounts(d.store.root, roots, { ignoreCache });
  await d.travel?.restoreMounts(roots);
  try {
    return await Promise.all(
      planned.platforms.map(async (platform, i) => {
        const { root, config } = planned.graphs[i];
        const jobFor = jobsFor(runners, {
          ignoreCache,
          defaultNetwork: opts.network,
          allow: opts.allow,
          onResult: result.early(root),
        });
        const rootJob = root ? jobFor(root) : undefined;
        // A result only pushed, hit in an imported cache, is never downloaded (cache/remote).
        if (rootJob && d.travel) d.travel.markRoot(await solver.cacheKey(rootJob));
        // A target that is just a directory (FROM a named context) becomes a filesystem here.
        const state = rootJob
          ? await materialize(d.snapshotter, (await solver.solve(rootJob)).result)
          : { kind: 'fs' as const, layers: [] };
        if (root && rootJob && d.travel)
          await d.travel.noteGraph(rootJob, layerChain(root), (j) => solver.cacheKey(j));
        return { platform, state, config };
      }),
    );
  } finally {
    // A COPY made ahead that was not taken (Solver.runAhead) ends before the stores close.
    await solver.settled();
  }
}
