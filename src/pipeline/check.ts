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
import { openStore } from '../store/store.ts';
import { baseImages } from './bases.ts';
import type { BuildEnv } from './build.ts';
import { type BuildRequest, withDefaults } from './options.ts';
import { plan } from './plan.ts';
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
  let read = false;
  const { images } = baseImages(store, {
    pull: opts.pull,
    signal: opts.signal,
    credentials: env.credentials,
  });
  const metadata = new MetadataSteps(progress, false);
  try {
    const planned = await plan(
      { ...opts, platforms: [opts.platforms[0] ?? hostPlatform()] },
      {
        stdin: () => env.stdin ?? process.stdin,
        onInput: (input) => {
          read = true;
          definition.note('transferring dockerfile:', Buffer.byteLength(input.dockerfileText));
          definition.done();
        },
        // Configs only: nothing is pulled into the store.
        resolver: (input) => {
          for (const l of input.layoutImages) images.provide(l.ref, l.source);
          return {
            resolveImageConfig: (ref, p) => metadata.around(ref, p, () => images.inspectConfig(ref, p)),
          };
        },
        // BuildKit's lint: no target means every stage.
        overrides: { allStages: opts.target === undefined },
      },
    ).catch((err) => {
      throw read ? err : definition.fail(err);
    });
    try {
      const [converted] = planned.graphs;
      return {
        warnings: converted.warnings.filter((w) => w.rule !== 'UnusedBuildArg'),
        source: { filename: basename(planned.input.dockerfilePath), data: planned.input.dockerfileText },
        ...(converted.lintError ? { error: converted.lintError } : {}),
      };
    } finally {
      await planned.input.cleanup();
    }
  } finally {
    if (!env.store) store.close();
  }
}
