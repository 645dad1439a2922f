/**
 * `kiln build --check` (`--call=check`): evaluate the build checks without building, as
 * BuildKit's lint subrequest does. The Dockerfile is converted for the first platform with every
 * stage dispatched (unless `--target` names one), base images are resolved to their configs
 * only (nothing is pulled into the store, no step runs), and the findings come back with the
 * Dockerfile they point into, for the caller to print.
 */
import { basename } from 'node:path';
import type { KilnError } from '../errors/errors.ts';
import type { ConvertWarning } from '../frontend/dockerfile/convert/types.ts';
import { hostPlatform } from '../oci/platform.ts';
import { discardProgress } from '../progress/events.ts';
import { parseReference } from '../reference/reference.ts';
import { openStore } from '../store/store.ts';
import { BaseImages } from '../worker/images.ts';
import type { BuildEnv } from './build.ts';
import { convertForPlatform } from './frontend.ts';
import { loadBuildInput } from './input.ts';
import { type BuildRequest, withDefaults } from './options.ts';
import { definitionStep, MetadataSteps } from './steps.ts';

export interface CheckResult {
  /** The findings, in the order the checks made them (the report sorts them by line). */
  warnings: ConvertWarning[];
  /** The Dockerfile the findings point into: its name as BuildKit shows it, and its text. */
  source: { filename: string; data: string };
  /** With `check=error=true` and findings: the LINT_VIOLATION the check fails with. */
  error?: KilnError;
}

/** Evaluate the build checks of a build request; nothing is built. */
export async function checkBuild(request: BuildRequest, env: BuildEnv = {}): Promise<CheckResult> {
  const opts = withDefaults(request, () => []);
  const progress = opts.progress ?? discardProgress;
  const store = env.store ?? openStore(env.root);
  const definition = definitionStep(progress, opts.dockerfile).start();
  const input = await loadBuildInput(opts, () => env.stdin ?? process.stdin).catch((err) => {
    throw definition.fail(err);
  });
  try {
    definition.note('transferring dockerfile:', Buffer.byteLength(input.dockerfileText));
    definition.done();
    const images = new BaseImages(
      store,
      {
        source: async (ref) => {
          const [{ RegistryClient }, hosts, { resolveImage }] = await Promise.all([
            import('../registry/client.ts'),
            import('../registry/hosts.ts'),
            import('../registry/source.ts'),
          ]);
          const client = new RegistryClient({
            config: hosts.loadRegistryConfig(hosts.defaultRegistryConfigPath(store.root)),
            signal: opts.signal,
          });
          return resolveImage(client, parseReference(ref), { platform: 'all' });
        },
      },
      { pull: opts.pull },
    );
    for (const l of input.layoutImages) images.provide(l.ref, l.source);
    const platform = opts.platforms[0] ?? hostPlatform();
    const metadata = new MetadataSteps(progress, false);
    const converted = await convertForPlatform(input, opts, platform, false, images, metadata, {
      // BuildKit's lint: no target means every stage.
      allStages: opts.target === undefined,
      resolver: {
        resolveImageConfig: (ref, p) => metadata.around(ref, p, () => images.inspectConfig(ref, p)),
      },
    });
    return {
      warnings: converted.warnings.filter((w) => w.rule !== 'UnusedBuildArg'),
      source: { filename: basename(input.dockerfilePath), data: input.dockerfileText },
      ...(converted.lintError ? { error: converted.lintError } : {}),
    };
  } finally {
    await input.cleanup();
    if (!env.store) store.close();
  }
}
