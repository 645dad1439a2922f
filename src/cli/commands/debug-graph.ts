/**
 * `kiln debug graph`: print, as JSON, the build graph `kiln build` would solve with the same
 * flags (vertices with digests, descriptions and ops; edges; the result's image config;
 * warnings). It plans through `plan()`, as the build does: the same Dockerfile, ignore file
 * (`<Dockerfile>.dockerignore` first), build args, named contexts, platforms and frontend (a
 * YAML file, a graph). Base images resolve as the build resolves them (the image store, then
 * registries), so the graph pins them and carries their config: the output is a graph definition
 * (`version: 1`) that `kiln build --graph` solves. `--offline` answers an empty linux config.
 */
import type { Command } from 'commander';
import type { ConvertWarning, ImageConfigResolver } from '../../frontend/dockerfile/convert/types.ts';
import { debugView } from '../../graph/index.ts';
import { formatPlatform, type Platform } from '../../oci/platform.ts';
import type { BuildRequest } from '../../pipeline/options.ts';
import { offlineResolver, type PlanEnv, plan } from '../../pipeline/plan.ts';
import { planFlags, planFlagValues } from './build-flags.ts';
import { debugCommand } from './debug-dockerfile.ts';

export { offlineResolver };

export interface DebugGraphOptions {
  /** Build context directory ('-' for a tar on stdin). */
  context: string;
  /** Dockerfile path (default `<context>/Dockerfile`). */
  file?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: Platform;
  /** `--build-context name=value`. */
  namedContexts?: Record<string, string>;
}

export interface DebugGraphOutput {
  /** The graph definition's format version (graph/json.ts): `kiln build --graph` reads it. */
  version: 1;
  target: string;
  /** The platform this graph builds (`os/arch[/variant]`). */
  platform: string;
  vertices: ReturnType<typeof debugView>['vertices'];
  edges: ReturnType<typeof debugView>['edges'];
  results: ReturnType<typeof debugView>['results'];
  warnings: ConvertWarning[];
}

/** The graph of every platform the request builds, planned as `build()` plans it. */
export async function debugGraphs(request: BuildRequest, env: PlanEnv = {}): Promise<DebugGraphOutput[]> {
  const planned = await plan(request, env);
  try {
    return planned.graphs.map((g, i) => ({
      version: 1 as const,
      target: g.target,
      platform: formatPlatform(planned.platforms[i]),
      ...debugView(g.definition),
      warnings: g.warnings,
    }));
  } finally {
    await planned.input.cleanup();
  }
}

/** One platform's graph (the host's unless `platform` says), bases resolved by `resolver`. */
export async function debugGraph(
  opts: DebugGraphOptions,
  resolver: ImageConfigResolver,
): Promise<DebugGraphOutput> {
  const [out] = await debugGraphs(
    {
      context: opts.context,
      dockerfile: opts.file,
      buildArgs: opts.buildArgs,
      target: opts.target,
      platforms: opts.platform ? [opts.platform] : [],
      buildContexts: opts.namedContexts,
    },
    { resolver: () => resolver },
  );
  return out;
}

/** Plan with base images resolved as `kiln build` resolves them, under a lease of the store. */
async function resolvedGraphs(request: BuildRequest, root: string | undefined): Promise<DebugGraphOutput[]> {
  const [{ openStore }, { baseImages }, { resolverFor }, { MetadataSteps }] = await Promise.all([
    import('../../store/store.ts'),
    import('../../pipeline/bases.ts'),
    import('../../pipeline/frontend.ts'),
    import('../../pipeline/steps.ts'),
  ]);
  const store = openStore(root);
  try {
    const { images } = baseImages(store, { pull: false });
    const steps = new MetadataSteps(() => {}, false);
    return await store.withLease(() =>
      debugGraphs(request, {
        resolver: (input) => {
          for (const l of input.layoutImages) images.provide(l.ref, l.source);
          return resolverFor(images, steps);
        },
      }),
    );
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  planFlags(
    debugCommand(program)
      .command('graph')
      .description('print the build graph `kiln build` would solve, as JSON (one per platform)')
      .argument('[context]', 'build context directory, or - to read a tar archive from stdin', '.'),
  )
    .option('--offline', 'do not resolve base images: each is an empty linux image of the platform')
    .action(async (context: string, o: Record<string, unknown>, cmd: Command) => {
      const request: BuildRequest = { context, ...planFlagValues(o) };
      const outs = o.offline
        ? await debugGraphs(request)
        : await resolvedGraphs(request, cmd.optsWithGlobals().root as string | undefined);
      // One platform prints one graph; several print an array, in --platform's order.
      const out = outs.length === 1 ? outs[0] : outs;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
