/**
 * The one planning entry: `plan(options)` reads what a build is given (the context, the
 * Dockerfile, the ignore file that applies — `<Dockerfile>.dockerignore` first —, the named
 * contexts) and converts the Dockerfile with the build args, target and RUN settings into one
 * graph per platform. `build()` solves exactly these graphs and `kiln debug graph` prints them,
 * so the two cannot disagree; a new frontend or server plans here too.
 */
import type {
  ConvertOptions,
  ConvertResult,
  ImageConfigResolver,
} from '../frontend/dockerfile/convert/types.ts';
import { hostPlatform, type Platform } from '../oci/platform.ts';
import type { GatewayDeps } from '../worker/gateway.ts';
import { convertForPlatform, platformsFor } from './frontend.ts';
import { type BuildInput, loadBuildInput } from './input.ts';
import { type BuildOptions, type BuildRequest, withDefaults } from './options.ts';

export interface PlanEnv {
  /** Where `-` (a context tar or a Dockerfile) is read from; a getter, as process.stdin loads node:net. */
  stdin?: () => NodeJS.ReadableStream;
  /**
   * Base-image configs, given the input (its oci-layout:// contexts bring images of their own).
   * Default: `offlineResolver`, which pins nothing.
   */
  resolver?: (input: BuildInput) => ImageConfigResolver;
  /** Told when the input is read, before anything converts. */
  onInput?: (input: BuildInput) => void;
  /** Wraps the conversion of all platforms (the build reports its steps around it). */
  converting?: (input: BuildInput, graphs: Promise<ConvertResult[]>) => Promise<ConvertResult[]>;
  /** What a caller changes in the conversion (`--check` dispatches every stage). */
  overrides?: Partial<ConvertOptions>;
  /** Where a context tar from stdin is extracted: kiln's root, so that COPY can link its files. */
  tmpDir?: string;
  /** Where a gateway frontend image runs (`# syntax=IMAGE`); without it, gateways are refused. */
  worker?: GatewayDeps;
}

export interface Plan {
  /** What was read; `input.cleanup()` removes a context tar's extraction when the caller is done. */
  input: BuildInput;
  platforms: Platform[];
  /** One conversion per platform, in the order of `platforms`: the graph, its result and config. */
  graphs: ConvertResult[];
  /** The Dockerfile's warnings, every platform's (a `check=error=true` failure is in `graphs[i].lintError`). */
  warnings: string[];
}

/** A resolver that knows no registry: every image is an empty linux image of the asked platform. */
export const offlineResolver: ImageConfigResolver = {
  async resolveImageConfig(ref, platform) {
    return {
      ref,
      config: {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: {},
        rootfs: { type: 'layers', diff_ids: [] },
        history: [{ created_by: `(unresolved base image ${ref})`, empty_layer: false }],
      },
    };
  },
};

/**
 * The platforms a build makes as far as the options say: those asked for, else the host's (a
 * YAML file can list its own; `plan()` reads them with the file, `platformsFor`).
 */
export function planPlatforms(opts: Pick<BuildOptions, 'platforms'>): Platform[] {
  return opts.platforms.length ? opts.platforms : [hostPlatform()];
}

export async function plan(request: BuildRequest, env: PlanEnv = {}): Promise<Plan> {
  const opts = withDefaults(request, () => []);
  const input = await loadBuildInput(opts, env.stdin ?? (() => process.stdin), env.tmpDir);
  try {
    env.onInput?.(input);
    const platforms = await platformsFor(input, opts);
    const resolver = env.resolver?.(input) ?? offlineResolver;
    const converting = Promise.all(
      platforms.map((p) =>
        convertForPlatform(input, opts, p, platforms.length > 1, resolver, env.overrides, env.worker),
      ),
    );
    const graphs = await (env.converting ? env.converting(input, converting) : converting);
    return { input, platforms, graphs, warnings: graphs.flatMap((c) => c.warnings.map((w) => w.message)) };
  } catch (err) {
    await input.cleanup();
    throw err;
  }
}
