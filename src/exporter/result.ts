/**
 * A build's result exported: the layers of the result start exporting as soon as their step
 * commits (in the primary output's format), then one image per layer format the outputs need
 * (the local store keeps layers uncompressed, registries and archives get gzip unless told
 * otherwise; the config, and with it the image ID, is the same in each), then each output is
 * written as its own step, named and reported as BuildKit's exporters report theirs.
 */

import type { Package } from '../attest/packages.ts';
import type { BlobHolder, Ingester } from '../content/content.ts';
import type { Vertex } from '../graph/vertex.ts';
import type { ImageConfig } from '../oci/config.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { type Compression, isIndexType } from '../oci/mediatypes.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';
import { ReportedStep } from '../progress/step.ts';
import type { BuildState, FsState } from '../worker/state.ts';
import { type Annotation, indexAnnotations, manifestAnnotations } from './annotations.ts';
import { type AttestRequest, writeAttestations } from './attestations.ts';
import { ComposedBlobs, writeImage, writeIndex } from './image.ts';
import { type LayerExportDeps, LayerExports } from './layers.ts';
import { type OutputDeps, type OutputResult, writeOutput } from './outputs.ts';
import { needsImage, type OutputSpec, outputCompression } from './spec.ts';
import { squash } from './squash.ts';

export interface PlatformResult {
  platform: Platform;
  manifest: Descriptor;
  configDigest: string;
}

export interface ExportedImage {
  root: Descriptor;
  platforms: PlatformResult[];
}

/** One platform's solved result: its filesystem and the image config the frontend made. */
export interface PlatformState {
  platform: Platform;
  state: FsState;
  config: ImageConfig;
}

interface ImageFormat {
  compression: Compression;
  oci: boolean;
  sourceDateEpoch?: number;
  annotations: Annotation[];
  /** Attestation manifests for the index (attestations.ts); with them the image is always an index. */
  attest?: (
    blobs: ComposedBlobs,
    images: { platform: Platform; manifest: Descriptor; state: FsState }[],
  ) => Promise<Descriptor[]>;
}

/** The image exports of one build: early layer export, then one image per layer format. */
export class ResultExport {
  readonly layers: LayerExports;
  /** The image reported (metadata file, iidfile): the pushed one, else the first image output. */
  readonly primary?: OutputSpec;
  private readonly content: Ingester & BlobHolder;
  private readonly sourceDateEpoch?: number;
  private readonly variants = new Map<string, Promise<ExportedImage>>();
  private readonly deps: LayerExportDeps;
  /** `--squash`: the layers above each base become one (squash.ts). */
  private readonly squash: boolean;
  /** `--sbom`/`--provenance`/`--attest`: what to attach to the image (attestations.ts). */
  private readonly attest?: AttestRequest;
  private readonly scanned = new Map<string, Promise<Package[]>>();

  constructor(
    deps: LayerExportDeps,
    outputs: readonly OutputSpec[],
    sourceDateEpoch?: number,
    opts: { squash?: boolean; attest?: AttestRequest } = {},
  ) {
    this.layers = new LayerExports(deps);
    this.deps = deps;
    this.content = deps.content;
    this.sourceDateEpoch = sourceDateEpoch;
    this.squash = opts.squash ?? false;
    this.attest = opts.attest;
    this.primary = outputs.find((o) => o.push) ?? outputs.find(needsImage);
  }

  /** Annotations every image output gets besides its own (an inline cache record). */
  private extra: Annotation[] = [];

  /** Add manifest annotations to every image exported from now on. */
  annotate(list: readonly Annotation[]): void {
    this.extra = [...this.extra, ...list];
  }

  private format(spec: OutputSpec): ImageFormat {
    const attest = this.attest;
    return {
      compression: outputCompression(spec),
      // Attestation manifests are OCI; BuildKit gives their index OCI media types too.
      oci: spec.ociMediaTypes || attest !== undefined,
      sourceDateEpoch: this.sourceDateEpoch,
      annotations: [...spec.annotations, ...this.extra],
      ...(attest && {
        attest: (blobs, images) =>
          writeAttestations(blobs, attest, images, {
            snapshotter: this.deps.snapshotter,
            // One name for every output, so the pushed image and the stored one are the same.
            imageName: this.primary?.names[0],
            sourceDateEpoch: this.sourceDateEpoch,
            scanned: this.scanned,
          }),
      }),
    };
  }

  /**
   * What to call with each step's result while `root` is solved: the layers of the result are
   * exported as soon as their step commits, in the primary output's format, while the steps
   * after it still run; other stages' layers never export.
   */
  early(root: Vertex | null): (v: Vertex, state: BuildState) => void {
    const primary = this.primary;
    // Not with --squash: those layers are replaced by the squashed one.
    if (!root || !primary || this.squash) return () => {};
    const chain = layerChain(root);
    const format = this.format(primary);
    return (v, state) => {
      const layer = state.kind === 'fs' ? state.layers.at(-1) : undefined;
      if (layer && chain.has(v.digest)) this.layers.prefetch(layer, format);
    };
  }

  /** The image in the layer format `spec` needs; outputs that need the same format share it. */
  image(spec: OutputSpec, perPlatform: readonly PlatformState[]): Promise<ExportedImage> {
    const format = this.format(spec);
    const key = JSON.stringify([format.compression, format.oci, format.annotations]);
    let v = this.variants.get(key);
    if (!v) {
      const squashed = this.squash
        ? Promise.all(
            perPlatform.map((p) =>
              squash(p.state, p.config, this.deps, format).then((r) => ({
                ...p,
                state: r.state,
                config: r.config,
              })),
            ),
          )
        : Promise.resolve(perPlatform);
      v = squashed.then((pp) => exportImage(this.content, this.layers, pp, format));
      this.variants.set(key, v);
    }
    return v;
  }
}

/**
 * Layers, config and manifest of every platform, and the index when there are several. Compose
 * the image (configs, manifests, index) in memory, hold its blobs for the build and store those
 * the store lacks: a rebuild that changed nothing writes nothing.
 */
export async function exportImage(
  content: Ingester & BlobHolder,
  layerExports: LayerExports,
  perPlatform: readonly PlatformState[],
  format: ImageFormat,
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
  const attached = format.attest
    ? await format.attest(
        composed,
        platforms.map((p, i) => ({
          platform: p.platform,
          manifest: p.manifest,
          state: perPlatform[i].state,
        })),
      )
    : [];
  const root =
    platforms.length === 1 && attached.length === 0
      ? stripPlatform(platforms[0].manifest)
      : await writeIndex(composed, [...platforms.map((r) => r.manifest), ...attached], {
          ...format,
          annotations: indexAnnotations(format.annotations),
        });
  await composed.storeIn(content);
  return { root, platforms };
}

/**
 * The vertices whose results are the final image's layers: the root, then down the chain of
 * root filesystems (RUN's rootfs, a file op's base, every input of a merge) to the base image.
 */
export function layerChain(root: Vertex): Set<string> {
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

/**
 * Write every output in order, each as its own step (`exporting to image`, …): the image it
 * needs in its layer format, then the output itself.
 */
export async function writeOutputs(
  exports: ResultExport,
  outputs: readonly OutputSpec[],
  perPlatform: readonly PlatformState[],
  deps: Omit<OutputDeps, 'task'> & { progress: ProgressSink },
): Promise<OutputResult[]> {
  const results: OutputResult[] = [];
  for (const [i, spec] of outputs.entries()) {
    const step = exportStep(deps.progress, spec, i).start();
    try {
      const image = needsImage(spec)
        ? await step.task('exporting layers', () => exports.image(spec, perPlatform))
        : undefined;
      const write = () =>
        writeOutput(
          spec,
          {
            root: image?.root,
            filesystems: perPlatform.map((p) => ({ platform: p.platform, state: p.state })),
          },
          { ...deps, task: (name, fn) => step.task(name, fn) },
        );
      results.push(await reportOutput(step, spec, image, write));
      step.done();
    } catch (err) {
      throw step.fail(err, deps.signal?.aborted);
    }
  }
  return results;
}

/** The exporting step of an output, named as BuildKit's exporters name theirs. */
export function exportStep(progress: ProgressSink, spec: OutputSpec, index: number): ReportedStep {
  const names: Record<OutputSpec['type'], string> = {
    image: 'exporting to image',
    registry: 'exporting to image',
    oci: 'exporting to oci image format',
    docker: 'exporting to docker image format',
    local: 'exporting to client directory',
    tar: 'exporting to client tarball',
  };
  return new ReportedStep(progress, names[spec.type], String(index));
}

/** Write one output, reporting its tasks as BuildKit's exporters name them. */
async function reportOutput(
  step: ReportedStep,
  spec: OutputSpec,
  image: ExportedImage | undefined,
  write: () => Promise<OutputResult>,
): Promise<OutputResult> {
  if (!image) return step.task(spec.type === 'local' ? 'copying files' : 'sending tarball', write);
  const id = isIndexType(image.root.mediaType) ? image.root.digest : image.platforms[0].configDigest;
  if (spec.type === 'image') step.note(`writing image ${id}`);
  else if (spec.type === 'registry') step.note(`exporting manifest ${image.root.digest}`);
  if (spec.type === 'oci' || spec.type === 'docker')
    return step.task(spec.tar === false ? 'writing layout' : 'sending tarball', write);
  const result = spec.push ? await step.task('pushing layers', write) : await write();
  if (spec.type === 'image') for (const n of result.names) step.note(`naming to ${n}`);
  for (const p of result.pushed ?? []) step.note(`pushing manifest for ${p}`);
  return result;
}
