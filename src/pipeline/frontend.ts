/**
 * The frontends as the build uses them: `frontendFor` says which one reads the build file
 * (`--frontend`, else a `.yaml`/`.yml` name means YAML, else a Dockerfile), and
 * `convertForPlatform` runs it for one platform, resolving base-image configs through the build's
 * BaseImages (local store first, then registries), each reported as a metadata step. Every
 * frontend returns the same thing: a graph definition and the result's image config.
 */

import { basename } from 'node:path';
import { KilnError, withLocation } from '../errors/errors.ts';
import { convertDockerfile } from '../frontend/dockerfile/convert/convert.ts';
import { isBuiltinFrontend } from '../frontend/dockerfile/convert/directives.ts';
import type {
  ConvertOptions,
  ConvertResult,
  ImageConfigResolver,
} from '../frontend/dockerfile/convert/types.ts';
import { detectSyntax } from '../frontend/dockerfile/parser/directives.ts';
import { convertGraph } from '../frontend/graph/graph.ts';
import { hostPlatform, type Platform, parsePlatform } from '../oci/platform.ts';
import type { GatewayDeps } from '../worker/gateway.ts';
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

/**
 * The gateway frontend image a build runs, if any: `--frontend gateway --opt source=IMAGE`, or a
 * `# syntax=IMAGE` line at the top of a Dockerfile or YAML file naming any image but BuildKit's
 * Dockerfile frontend (which the built-in one stands in for).
 */
export function gatewaySource(
  input: Pick<BuildInput, 'dockerfilePath' | 'dockerfileText'>,
  opts: Pick<BuildOptions, 'frontend' | 'frontendOpts' | 'graph'>,
): { ref: string; line?: number } | undefined {
  if (opts.frontend === 'gateway') {
    const source = opts.frontendOpts?.source;
    if (!source) {
      throw new KilnError('INVALID_FLAG', '--frontend gateway needs the frontend image', {
        hint: 'name it with --opt source=IMAGE',
      });
    }
    return { ref: source };
  }
  if (opts.graph || opts.frontend === 'graph') return undefined;
  const d = detectSyntax(input.dockerfileText);
  return d && !isBuiltinFrontend(d.ref) ? { ref: d.ref, line: d.line } : undefined;
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
  resolver: ImageConfigResolver,
  /** What a caller changes (a check resolves configs its own way, and every stage). */
  overrides: Partial<ConvertOptions> = {},
  /** Where a gateway frontend image runs (a build's worker); without it, gateways are refused. */
  worker?: GatewayDeps,
): Promise<ConvertResult> {
  const gateway = gatewaySource(input, opts);
  if (gateway) {
    if (!worker) {
      throw new KilnError('FRONTEND_UNSUPPORTED', `gateway frontend ${gateway.ref} needs a build to run in`);
    }
    // An image named by `# syntax=` fails at that line, as any error of the build file does.
    const line = gateway.line;
    const at = line ? { file: input.dockerfilePath, startLine: line, endLine: line } : undefined;
    return runGatewayFrontend(gateway.ref, input, opts, platform, worker).catch((err) => {
      throw at ? withLocation(err, at) : err;
    });
  }
  const frontend = frontendFor(input, opts);
  if (frontend === 'graph') {
    const file = opts.dockerfile === '-' ? '<stdin>' : input.dockerfilePath;
    return convertGraph(input.dockerfileText, { file, platform, target: opts.target });
  }
  const common = {
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

/** Run a gateway frontend image for one platform and take its graph (docs/gateway.md). */
async function runGatewayFrontend(
  ref: string,
  input: BuildInput,
  opts: BuildOptions,
  platform: Platform,
  deps: GatewayDeps,
): Promise<ConvertResult> {
  const { runGateway } = await import('../worker/gateway.ts');
  const seconds = Number(opts.frontendOpts?.timeout ?? 60);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new KilnError('INVALID_FLAG', `invalid --opt timeout=${opts.frontendOpts?.timeout}`, {
      hint: 'give the gateway frontend limit in seconds, at most 3600',
    });
  }
  const text = await runGateway(
    deps,
    ref,
    input.dockerfileText,
    {
      version: 1,
      file: basename(input.dockerfilePath),
      platform,
      buildPlatform: hostPlatform(),
      target: opts.target,
      buildArgs: opts.buildArgs,
      labels: opts.labels,
      opts: { ...(opts.frontendOpts ?? {}) },
    },
    seconds * 1000,
  );
  try {
    return { ...convertGraph(text, { file: `the output of ${ref}`, platform }), syntax: undefined };
  } catch (err) {
    if (!(err instanceof KilnError) || !err.code.startsWith('GRAPH_')) throw err;
    const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new KilnError(
      'GATEWAY_INVALID_OUTPUT',
      `frontend image ${ref} printed no valid graph: ${err.message}`,
      {
        cause: err,
        hint: `it printed: ${JSON.stringify(shown)}; a frontend prints one graph definition (docs/gateway.md)`,
      },
    );
  }
}
