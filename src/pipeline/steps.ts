/**
 * The steps a build reports besides its instructions, as BuildKit shows them: loading the build
 * definition (with the Dockerfile's warnings) and .dockerignore, and each base image's metadata
 * (the exporting steps are the exporter's, `exporter/result.ts`).
 */
import { basename } from 'node:path';
import type { ConvertResult } from '../frontend/dockerfile/convert/types.ts';
import { formatPlatform, type Platform } from '../oci/platform.ts';
import type { ProgressEvent, ProgressSink } from '../progress/events.ts';
import { ReportedStep } from '../progress/step.ts';
import type { BuildInput } from './input.ts';

/** BuildKit names the definition step after the Dockerfile's file name. */
export function definitionStep(progress: ProgressSink, dockerfile: string | undefined): ReportedStep {
  const name = dockerfile && dockerfile !== '-' ? basename(dockerfile) : 'Dockerfile';
  return new ReportedStep(progress, `[internal] load build definition from ${name}`);
}

/** `[internal] load metadata for REF`, once per base image and platform. */
export class MetadataSteps {
  private readonly sink: ProgressSink;
  private readonly multiPlatform: boolean;
  private readonly reported = new Set<string>();
  private readonly loading = new Map<string, string>();

  constructor(sink: ProgressSink, multiPlatform: boolean) {
    this.sink = sink;
    this.multiPlatform = multiPlatform;
  }

  async around<T>(ref: string, platform: Platform, load: () => Promise<T>): Promise<T> {
    const where = this.multiPlatform ? `${formatPlatform(platform)} internal` : 'internal';
    const step = new ReportedStep(this.sink, `[${where}] load metadata for ${ref}`, formatPlatform(platform));
    if (this.reported.has(step.id)) return load();
    this.reported.add(step.id);
    step.start();
    this.loading.set(ref, step.id);
    try {
      const r = await load();
      step.done();
      return r;
    } catch (err) {
      throw step.fail(err);
    } finally {
      if (this.loading.get(ref) === step.id) this.loading.delete(ref);
    }
  }

  /** The step loading `ref` now, for the byte counts of its pull. */
  vertexOf(ref: string): string | undefined {
    return this.loading.get(ref);
  }
}

/**
 * Events held back while the Dockerfile is converted: BuildKit shows the definition step with
 * its warnings first, and the warnings are known only once conversion is over.
 */
export class HeldProgress {
  private held: ProgressEvent[] | undefined = [];
  private readonly out: ProgressSink;
  readonly sink: ProgressSink = (e) => (this.held ? this.held.push(e) : this.out(e));

  constructor(out: ProgressSink) {
    this.out = out;
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) this.out(e);
  }
}

/**
 * Convert for every platform, then report the frontend's steps in BuildKit's order: the
 * definition (its warnings, then done), .dockerignore, and the metadata loads held meanwhile.
 * The definition and .dockerignore were read by `loaded` (ms since the epoch): their times say so.
 */
export async function reportConversion(
  progress: ProgressSink,
  definition: ReportedStep,
  input: BuildInput,
  loaded: number,
  held: HeldProgress,
  convert: Promise<ConvertResult[]>,
): Promise<ConvertResult[]> {
  let results: ConvertResult[] | undefined;
  try {
    results = await convert;
  } finally {
    // kiln stands in for the BuildKit frontend image `# syntax=` names; it says so.
    const syntax = results?.find((r) => r.syntax)?.syntax;
    if (syntax) definition.note(`using the built-in Dockerfile frontend for ${syntax}`);
    if (results) reportWarnings(progress, definition, input, results);
    definition.done(loaded);
    const ignore = new ReportedStep(progress, '[internal] load .dockerignore').start(loaded);
    ignore.note('transferring context:', input.dockerignoreSize, loaded);
    ignore.done(loaded);
    held.release();
  }
  return results;
}

/** Each warning once, even when several platforms' conversions found it. */
function reportWarnings(
  progress: ProgressSink,
  definition: ReportedStep,
  input: BuildInput,
  results: ConvertResult[],
): void {
  const seen = new Set<string>();
  for (const w of results.flatMap((r) => r.warnings)) {
    const key = JSON.stringify([w.rule, w.message, w.location?.startLine]);
    if (seen.has(key)) continue;
    seen.add(key);
    progress({
      type: 'warning',
      rule: w.rule,
      message: w.message,
      url: w.url,
      vertex: definition.id,
      location: w.location,
      source: { filename: input.dockerfilePath, data: input.dockerfileText, language: 'Dockerfile' },
      at: Date.now(),
    });
  }
}
