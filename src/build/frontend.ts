/**
 * The frontends as the build uses them: `frontendFor` says which one reads the build file
 * (`--frontend`, else a `.yaml`/`.yml` name means YAML, else a Dockerfile), and
 * `convertForPlatform` runs it for one platform, resolving base-image configs through the build's
 * BaseImages (local store first, then registries), each reported as a metadata step. Every
 * frontend returns the same thing: a graph definition and the result's image config.
 */
import { convertDockerfile } from '../frontend/dockerfile/convert/convert.ts';
import type { ConvertResult, ImageConfigResolver } from '../frontend/dockerfile/convert/types.ts';
import { convertGraph } from '../frontend/graph/graph.ts';
import { hostPlatform, type Platform, parsePlatform } from '../oci/platform.ts';
import type { BaseImages } from '../worker/images.ts';
import type { BuildInput } from './input.ts';
import type { BuildOptions, FrontendName } from './options.ts';
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

/** The frontend that reads this build's file. */
export function frontendFor(
  input: Pick<BuildInput, 'dockerfilePath'>,
  opts: Pick<BuildOptions, 'frontend'>,
): FrontendName {
  if (opts.frontend) return opts.frontend;
  return /\.ya?ml$/i.test(input.dockerfilePath) ? 'yaml' : 'dockerfile';
}

/** `--platform`, else the platforms a YAML file's target lists, else the host's. */
export async function platformsFor(
  input: Pick<BuildInput, 'dockerfilePath' | 'dockerfileText'>,
  opts: Pick<BuildOptions, 'frontend' | 'platforms' | 'target'>,
): Promise<Platform[]> {
  if (opts.platforms.length) return opts.platforms;
  if (frontendFor(input, opts) === 'yaml') {
    const { yamlPlatforms } = await import('../frontend/yaml/convert.ts');
    const listed = yamlPlatforms(input.dockerfileText, input.dockerfilePath, opts.target);
    if (listed) return listed.map(parsePlatform);
  }
  return [hostPlatform()];
}

export async function convertForPlatform(
  input: BuildInput,
  opts: BuildOptions,
  platform: Platform,
  multiPlatform: boolean,
  images: BaseImages,
  steps: MetadataSteps,
): Promise<ConvertResult> {
  const frontend = frontendFor(input, opts);
  if (frontend === 'graph') {
    return convertGraph(input.dockerfileText, { file: input.dockerfilePath, platform, target: opts.target });
  }
  const common = {
    file: input.dockerfilePath,
    buildArgs: opts.buildArgs,
    target: opts.target,
    platform,
    buildPlatform: hostPlatform(),
    labels: opts.labels,
    resolver: resolverFor(images, steps),
    contextName: 'context',
    namedContexts: input.namedContexts,
    dockerignore: input.dockerignore,
    multiPlatform,
    noCache: opts.noCache ? true : opts.noCacheFilter.length ? opts.noCacheFilter : false,
    run: runSettings(opts),
  };
  if (opts.graph) {
    const { convertImage } = await import('../frontend/builder/image.ts');
    return convertImage(opts.graph, common);
  }
  if (frontend === 'yaml') {
    const { convertYaml } = await import('../frontend/yaml/convert.ts');
    return convertYaml(input.dockerfileText, common);
  }
  return convertDockerfile(input.dockerfileText, common);
}
