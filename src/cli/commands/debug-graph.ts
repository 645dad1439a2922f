/**
 * `kiln debug graph`: convert a Dockerfile (or a kiln YAML file) to kiln's build graph and print
 * it as JSON (vertices with digests, descriptions and ops; edges; the result's image config;
 * warnings). The output is a graph definition (`version: 1`) that `kiln build --graph` solves.
 * Base images are resolved as a build resolves them (the local store, then registries), so the
 * graph pins them and carries their config; `--offline` answers an empty linux config instead.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isErrno, KilnError } from '../../errors/errors.ts';
import { convertDockerfile } from '../../frontend/dockerfile/convert/index.ts';
import type { ConvertWarning, ImageConfigResolver } from '../../frontend/dockerfile/convert/types.ts';
import { debugView } from '../../graph/index.ts';
import { hostPlatform, type Platform, parsePlatform } from '../../oci/platform.ts';
import { debugCommand } from './debug-dockerfile.ts';

export interface DebugGraphOptions {
  /** Build context directory. */
  context: string;
  /** Dockerfile path (default `<context>/Dockerfile`). */
  file?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: Platform;
  /** `--build-context name=dir|docker-image://ref`. */
  namedContexts?: Record<string, string>;
}

export interface DebugGraphOutput {
  /** The graph definition's format version (graph/definition.ts). */
  version: 1;
  target: string;
  vertices: ReturnType<typeof debugView>['vertices'];
  edges: ReturnType<typeof debugView>['edges'];
  results: ReturnType<typeof debugView>['results'];
  warnings: ConvertWarning[];
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

/** .dockerignore as patterns (comments and blank lines dropped, as moby's ReadAll does). */
async function readDockerignore(context: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(context, '.dockerignore'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

export async function debugGraph(
  opts: DebugGraphOptions,
  resolver: ImageConfigResolver,
): Promise<DebugGraphOutput> {
  const file = opts.file ?? join(opts.context, 'Dockerfile');
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    throw new KilnError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'pass the Dockerfile with -f, or run from a directory containing one',
    });
  }
  const platform = opts.platform ?? hostPlatform();
  const convert = /\.ya?ml$/i.test(file)
    ? (await import('../../frontend/yaml/convert.ts')).convertYaml
    : convertDockerfile;
  const result = await convert(source, {
    file,
    buildArgs: opts.buildArgs ?? {},
    target: opts.target,
    platform,
    buildPlatform: hostPlatform(),
    resolver,
    dockerignore: await readDockerignore(opts.context),
    namedContexts: opts.namedContexts,
  });
  const view = debugView(result.definition);
  return { version: 1, target: result.target, ...view, warnings: result.warnings };
}

/**
 * Base images resolved as `kiln build` resolves them (the local store first, a registry when
 * absent), under a lease so that what a pull writes is kept while the command runs.
 */
async function withStoreResolver<T>(
  root: string | undefined,
  fn: (resolver: ImageConfigResolver) => Promise<T>,
): Promise<T> {
  const [{ openStore }, { BaseImages }] = await Promise.all([
    import('../../store/store.ts'),
    import('../../worker/images.ts'),
  ]);
  const store = openStore(root);
  try {
    return await store.withLease(async () => {
      const images = new BaseImages(
        store,
        {
          source: async (ref) => {
            const [{ RegistryClient }, hosts, { resolveImage }, { parseReference }] = await Promise.all([
              import('../../registry/client.ts'),
              import('../../registry/hosts.ts'),
              import('../../registry/source.ts'),
              import('../../reference/reference.ts'),
            ]);
            const client = new RegistryClient({
              config: hosts.loadRegistryConfig(hosts.defaultRegistryConfigPath(store.root)),
            });
            return resolveImage(client, parseReference(ref), { platform: 'all' });
          },
        },
        { pull: false },
      );
      return fn({
        async resolveImageConfig(ref, platform) {
          const r = await images.resolve(ref, platform);
          return { ref: r.ref, config: r.config };
        },
      });
    });
  } finally {
    store.close();
  }
}

/** `K=V` → pair; a bare `K` takes the value from the environment (docker's rule), else is dropped. */
export function parseBuildArgs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i > 0) out[item.slice(0, i)] = item.slice(i + 1);
    else if (i < 0 && process.env[item] !== undefined) out[item] = process.env[item]!;
    else if (i === 0) {
      throw new KilnError('INVALID_BUILD_ARG', `invalid --build-arg "${item}"`, {
        hint: 'write --build-arg NAME=VALUE',
      });
    }
  }
  return out;
}

/** `name=value` pairs; a relative directory is resolved against the working directory. */
export function parseNamedContexts(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i <= 0 || i === item.length - 1) {
      throw new KilnError('INVALID_BUILD_CONTEXT', `invalid --build-context "${item}"`, {
        hint: 'write --build-context NAME=DIR or NAME=docker-image://REF',
      });
    }
    const value = item.slice(i + 1);
    out[item.slice(0, i)] = /^[a-z-]+:\/\//.test(value) ? value : resolve(value);
  }
  return out;
}

export function register(program: Command): void {
  debugCommand(program)
    .command('graph')
    .description(
      'print the build graph of a Dockerfile (or kiln YAML file) as JSON, for `kiln build --graph`',
    )
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <file>', 'Dockerfile (default CONTEXT/Dockerfile)')
    .option(
      '--build-arg <arg>',
      'build-time variable NAME=VALUE (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--target <stage>', 'stage to build')
    .option('--offline', 'do not resolve base images: each is an empty linux image of the platform')
    .option('--platform <platform>', 'target platform, e.g. linux/arm64')
    .option(
      '--build-context <name=value>',
      'named context: a directory or docker-image://ref (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(
      async (
        context: string,
        o: {
          file?: string;
          buildArg: string[];
          target?: string;
          platform?: string;
          buildContext: string[];
          offline?: boolean;
        },
        cmd: Command,
      ) => {
        const buildArgs = parseBuildArgs(o.buildArg);
        // As `kiln build` does (buildx's rule): the environment's SOURCE_DATE_EPOCH is a build arg.
        if (process.env.SOURCE_DATE_EPOCH && buildArgs.SOURCE_DATE_EPOCH === undefined) {
          buildArgs.SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH;
        }
        const opts: DebugGraphOptions = {
          context: resolve(context),
          file: o.file ? resolve(o.file) : undefined,
          buildArgs,
          target: o.target,
          platform: o.platform ? parsePlatform(o.platform) : undefined,
          namedContexts: parseNamedContexts(o.buildContext),
        };
        const out = o.offline
          ? await debugGraph(opts, offlineResolver)
          : await withStoreResolver(cmd.optsWithGlobals().root as string | undefined, (r) =>
              debugGraph(opts, r),
            );
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      },
    );
}
