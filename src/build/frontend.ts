/**
 * The Dockerfile frontend as the build uses it: parse and convert for one platform, resolving
 * base-image configs through the build's BaseImages (local store first, then registries), each
 * reported as a metadata step.
 */
import { convertDockerfile } from '../frontend/dockerfile/convert/convert.ts';
import type {
  ConvertOptions,
  ConvertResult,
  ImageConfigResolver,
} from '../frontend/dockerfile/convert/types.ts';
import { hostPlatform, type Platform } from '../oci/platform.ts';
import type { BaseImages } from '../worker/images.ts';
import type { BuildInput } from './input.ts';
import type { BuildOptions } from './options.ts';
import { runSettings } from './run-settings.ts';
import type { MetadataSteps } from './steps.ts';

export function resolverFor(images: BaseImages, steps: MetadataSteps): ImageConfigResolver {
  return {
    async resolveImageConfig(ref, platform) {
      const r = await steps.around(ref, platform, () => images.resolve(ref, platform));
      return { ref: r.ref, config: r.config };
    },
  };
}

export function convertForPlatform(
  input: BuildInput,
  opts: BuildOptions,
  platform: Platform,
  multiPlatform: boolean,
  resolver: ImageConfigResolver,
  /** What a caller changes (a check resolves configs its own way, and every stage). */
  overrides: Partial<ConvertOptions> = {},
): Promise<ConvertResult> {
  return convertDockerfile(input.dockerfileText, {
    file: input.dockerfilePath,
    buildArgs: opts.buildArgs,
    target: opts.target,
    platform,
    buildPlatform: hostPlatform(),
    labels: opts.labels,
    resolver,
    contextName: 'context',
    namedContexts: input.namedContexts,
    dockerignore: input.dockerignore,
    multiPlatform,
    noCache: opts.noCache ? true : opts.noCacheFilter.length ? opts.noCacheFilter : false,
    run: runSettings(opts),
    ...overrides,
  });
}
