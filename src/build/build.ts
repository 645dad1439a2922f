/**
 * The library's front door: `build(options)` reads the Dockerfile and context, converts it to a
 * graph per platform, solves the graph with the instruction cache, exports layers and image,
 * and writes the requested outputs. Everything runs under a content-store lease and a snapshot
 * hold scope, so a concurrent `kiln prune` or `kiln builder prune` never removes a blob or
 * snapshot this build writes or reads.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildCache } from '../cache/build-cache.ts';
import type { BlobHolder, Ingester } from '../content/content.ts';
import { DigestCache } from '../context/digestcache.ts';
import { diskFull, hasCode, isDiskFull, type KilnError, withLocation } from '../errors/errors.ts';
import {
  type Annotation,
  checkSinglePlatform,
  indexAnnotations,
  manifestAnnotations,
} from '../exporter/annotations.ts';
import { ComposedBlobs, writeImage, writeIndex } from '../exporter/image.ts';
import { LayerExports } from '../exporter/layers.ts';
import { type OutputResult, writeOutput } from '../exporter/outputs.ts';
import type { Vertex } from '../graph/vertex.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Compression } from '../oci/mediatypes.ts';
import { hostPlatform, type Platform } from '../oci/platform.ts';
import { jobsFor, resetIgnoredCacheMounts, validatedCache } from '../ops/jobs.ts';
import { discardProgress } from '../progress/events.ts';
import type { ReportedStep } from '../progress/step.ts';
import { parseReference } from '../reference/reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { Solver } from '../solver/solver.ts';
import { sweepLeftovers } from '../store/leftovers.ts';
import { openStore, type Store } from '../store/store.ts';
import { BaseImages } from '../worker/images.ts';
import { materialize } from '../worker/materialize.ts';
import { checkSecrets } from '../worker/secrets.ts';
import type { FsState } from '../worker/state.ts';
import { convertForPlatform } from './frontend.ts';
import { loadBuildInput } from './input.ts';
import { openIsolated } from './isolation.ts';
import { type BuildRequest, checkSsh, type OutputSpec, withDefaults } from './options.ts';
import { outputCompression, resolveOutputs } from './output-spec.ts';
import { makeRunners } from './runners.ts';
import { definitionStep, exportStep, HeldProgress, MetadataSteps, reportConversion } from './steps.ts';

export interface PlatformResult {
  platform: Platform;
  manifest: Descriptor;
  configDigest: string;
}

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
}

export interface BuildEnv {
  /** State root (default: KILN_ROOT or the system default). */
  root?: string;
  store?: Store;
  stdout?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
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
  const progress = opts.progress ?? discardProgress;
  // A build after a killed one must not leave that one's secrets mounted (one readdir or two).
  await sweepLeftovers(store.root);
  const definition = definitionStep(progress, opts.dockerfile).start();
  const input = await loadBuildInput(opts, () => env.stdin ?? process.stdin).catch((err) => {
    throw definition.fail(err);
  });
  const loaded = Date.now();
  definition.note('transferring dockerfile:', Buffer.byteLength(input.dockerfileText), loaded);
  const cache = new BuildCache(join(store.root, 'buildcache.db'));
  const digests = DigestCache.open(join(store.root, 'context-digests.db'));
  const temps: string[] = [];
  let snapshotter: Snapshotter | undefined;
  // The registry client and runc load on first use: a fully cached build needs neither, and is
  // mostly start-up.
  let registry: Promise<RegistryClient> | undefined;
  const registryClient = () => {
    registry ??= Promise.all([import('../registry/client.ts'), import('../registry/hosts.ts')]).then(
      ([{ RegistryClient }, hosts]) =>
        new RegistryClient({
          config: hosts.loadRegistryConfig(hosts.defaultRegistryConfigPath(store.root)),
          signal: opts.signal,
        }),
    );
    return registry;
  };
  try {
    return await store.withLease(async () => {
      // This build's hold scope: what it builds on stays until it ends (released below).
      // The isolation mode picks the snapshotter and the executor (runc, runc --rootless, chroot).
      const { snapshotter: sn, executor } = await openIsolated(store.root, opts.isolation, definition);
      snapshotter = sn;
      const platforms = opts.platforms.length ? opts.platforms : [hostPlatform()];
      // A single-platform image has no index: BuildKit refuses index annotations for it (here
      // before anything is built).
      if (platforms.length === 1) for (const o of opts.outputs) checkSinglePlatform(o.annotations);
      // Base images resolve while the Dockerfile converts; their steps show after the definition's.
      const held = new HeldProgress(progress);
      const metadata = new MetadataSteps(held.sink, platforms.length > 1);
      const images = new BaseImages(
        store,
        {
          source: async (ref) =>
            (await import('../registry/source.ts')).resolveImage(
              await registryClient(),
              parseReference(ref),
              {
                platform: 'all',
                onProgress: (e) =>
                  held.sink(e.type === 'status' ? { ...e, vertex: e.vertex ?? metadata.vertexOf(ref) } : e),
              },
            ),
        },
        { pull: opts.pull },
      );
      for (const l of input.layoutImages) images.provide(l.ref, l.source);
      const runners = makeRunners({ store, snapshotter: sn, executor, images, digests, input, opts, temps });
      const solver = new Solver({
        cache: validatedCache(cache, sn, store.content),
        parallelism: opts.parallelism ?? 4,
        progress,
        signal: opts.signal,
      });
      const needsImage = (o: OutputSpec) => o.type !== 'local' && o.type !== 'tar';
      // The image reported (metadata file, iidfile): the pushed one, else the first image output.
      const primary = opts.outputs.find((o) => o.push) ?? opts.outputs.find(needsImage);
      const formatOf = (spec?: OutputSpec) => ({
        compression: spec ? outputCompression(spec) : ('uncompressed' as const),
        oci: spec?.ociMediaTypes ?? false,
        sourceDateEpoch: opts.sourceDateEpoch,
      });
      const layerExports = new LayerExports({ snapshotter: sn, content: store.content, cache, progress });
      const converted = await reportConversion(
        progress,
        definition,
        input,
        loaded,
        held,
        Promise.all(
          platforms.map((p) => convertForPlatform(input, opts, p, platforms.length > 1, images, metadata)),
        ),
      );
      const warnings = converted.flatMap((c) => c.warnings.map((w) => w.message));
      // check=error=true: the warnings are shown (above), then the build stops before it runs.
      const lintError = converted.find((c) => c.lintError)?.lintError;
      if (lintError) throw lintError;
      const ignoreCache = () => opts.noCache;
      await resetIgnoredCacheMounts(
        store.root,
        converted.flatMap((c) => (c.root ? [c.root] : [])),
        { ignoreCache },
      );
      const perPlatform = await Promise.all(
        platforms.map(async (platform, i) => {
          const conv = converted[i];
          // Each layer of the result is exported as soon as its step commits, in the primary
          // output's format, while the steps after it still run.
          const chain = conv.root && primary ? layerChain(conv.root) : new Set<string>();
          const jobFor = jobsFor(runners, {
            ignoreCache,
            defaultNetwork: opts.network,
            allow: opts.allow,
            onResult: (v, state) => {
              const layer = state.kind === 'fs' ? state.layers.at(-1) : undefined;
              if (layer && chain.has(v.digest)) layerExports.prefetch(layer, formatOf(primary));
            },
          });
          // A target that is just a directory (FROM a named context) becomes a filesystem here.
          const state: FsState = conv.root
            ? await materialize(sn, (await solver.solve(jobFor(conv.root))).result)
            : { kind: 'fs', layers: [] };
          return { platform, state, config: conv.config };
        }),
      );
      // One image per layer format the outputs ask for: the local store keeps uncompressed
      // layers, registries and archives get gzip unless told otherwise. The config, and with it
      // the image ID, is the same in every variant.
      const variants = new Map<string, Promise<ExportedImage>>();
      const imageFor = (spec: OutputSpec): Promise<ExportedImage> => {
        const format = { ...formatOf(spec), annotations: spec.annotations };
        const key = JSON.stringify([format.compression, format.oci, format.annotations]);
        let v = variants.get(key);
        if (!v) {
          v = exportImage(store.content, layerExports, perPlatform, format);
          variants.set(key, v);
        }
        return v;
      };
      const outputs: OutputResult[] = [];
      for (const [i, spec] of opts.outputs.entries()) {
        const step = exportStep(progress, spec, i).start();
        try {
          const image = needsImage(spec)
            ? await step.task('exporting layers', () => imageFor(spec))
            : undefined;
          const write = () =>
            writeOutput(
              spec,
              {
                root: image?.root,
                filesystems: perPlatform.map((p) => ({ platform: p.platform, state: p.state })),
              },
              {
                content: store.content,
                images: store.images,
                snapshotter: sn,
                registry: registryClient,
                stdout: env.stdout ?? process.stdout,
                signal: opts.signal,
                task: (name, fn) => step.task(name, fn),
              },
            );
          outputs.push(await reportOutput(step, spec, image, write));
          step.done();
        } catch (err) {
          throw step.fail(err, opts.signal?.aborted);
        }
      }
      const exported = primary ? await imageFor(primary) : undefined;
      const results = exported?.platforms ?? [];
      return {
        root: exported?.root,
        imageId: exported && (results.length === 1 ? results[0].configDigest : exported.root.digest),
        platforms: results,
        outputs,
        warnings,
      };
    });
  } catch (err) {
    // Whatever ran out of room (a snapshot, a runc bundle, a cache database) says so the same way;
    // an output the user named (a file, a device) is not the state root and says so itself.
    let failure = err;
    if (isDiskFull(err) && !hasCode(err, 'OUTPUT_WRITE_FAILED')) {
      const full = diskFull(store.root, err);
      const at = (err as KilnError).location;
      failure = at ? withLocation(full, at) : full;
    }
    // Anything that fails before the Dockerfile is converted fails the definition step.
    throw definition.fail(failure, opts.signal?.aborted);
  } finally {
    await snapshotter?.release();
    await input.cleanup();
    for (const t of temps) await rm(t, { recursive: true, force: true });
    cache.close();
    digests.close();
    if (!env.store) store.close();
  }
}

interface ExportedImage {
  root: Descriptor;
  platforms: PlatformResult[];
}

/** Write one output, reporting its tasks as BuildKit's exporters name them. */
async function reportOutput(
  step: ReportedStep,
  spec: OutputSpec,
  image: ExportedImage | undefined,
  write: () => Promise<OutputResult>,
): Promise<OutputResult> {
  if (!image) return step.task(spec.type === 'local' ? 'copying files' : 'sending tarball', write);
  const id = image.platforms.length === 1 ? image.platforms[0].configDigest : image.root.digest;
  if (spec.type === 'image') step.note(`writing image ${id}`);
  else if (spec.type === 'registry') step.note(`exporting manifest ${image.root.digest}`);
  if (spec.type === 'oci' || spec.type === 'docker')
    return step.task(spec.tar === false ? 'writing layout' : 'sending tarball', write);
  const result = spec.push ? await step.task('pushing layers', write) : await write();
  if (spec.type === 'image') for (const n of result.names) step.note(`naming to ${n}`);
  for (const p of result.pushed ?? []) step.note(`pushing manifest for ${p}`);
  return result;
}

/**
 * Layers, config and manifest of every platform, and the index when there are several. Compose
 * the image (configs, manifests, index) in memory, hold its blobs for the build and store those
 * the store lacks: a rebuild that changed nothing writes nothing.
 */
async function exportImage(
  content: Ingester & BlobHolder,
  layerExports: LayerExports,
  perPlatform: { platform: Platform; state: FsState; config: ImageConfig }[],
  format: { compression: Compression; oci: boolean; sourceDateEpoch?: number; annotations: Annotation[] },
): Promise<ExportedImage> {
  const composed = new ComposedBlobs();
  const platforms: PlatformResult[] = [];
  for (const r of perPlatform) {
    const layers = await layerExports.all(r.state, format);
    const written = await writeImage(
      composed,
      { config: r.config, layers, platform: r.platform },
      { ...format, annotations: manifestAnnotations(format.annotations, r.platform) },
    );
    platforms.push({ platform: r.platform, ...written });
  }
  const root =
    platforms.length === 1
      ? stripPlatform(platforms[0].manifest)
      : await writeIndex(
          composed,
          platforms.map((r) => r.manifest),
          { ...format, annotations: indexAnnotations(format.annotations) },
        );
  await composed.storeIn(content);
  return { root, platforms };
}

/**
 * The vertices whose results are the final image's layers: the root, then down the chain of
 * root filesystems (RUN's rootfs, a file op's base, every input of a merge) to the base image.
 */
function layerChain(root: Vertex): Set<string> {
  const chain = new Set<string>();
  const visit = (v: Vertex | undefined): void => {
    if (!v || chain.has(v.digest)) return;
    const op = v.op;
    if (op.type === 'exec') {
      chain.add(v.digest);
      visit(op.rootfs === null ? undefined : v.inputs[op.rootfs]);
    } else if (op.type === 'file') {
      chain.add(v.digest);
      visit(op.base === null ? undefined : v.inputs[op.base]);
    } else if (op.type === 'merge') {
      chain.add(v.digest);
      for (const i of op.inputs) visit(v.inputs[i]);
    }
  };
  visit(root);
  return chain;
}

function stripPlatform(d: Descriptor): Descriptor {
  const { platform: _p, ...rest } = d;
  return rest;
}
