/**
 * `kiln build --check` / `--call=check`: the build checks without a build. The report goes to
 * stdout as buildx prints it; the exit status is 1 when anything was found (and the check fails
 * with LINT_VIOLATION under `check=error=true`, after the report).
 */

import { KilnError } from '../../errors/errors.ts';
import type { BuildOptions } from '../../pipeline/options.ts';
import { checkReport } from '../../progress/check-report.ts';

/** buildx's `--call` values; kiln evaluates `build` (the default) and `check`. */
export function callMode(o: { check?: unknown; call?: unknown }): 'build' | 'check' {
  const call = (o.call as string | undefined) ?? 'build';
  if (o.check) {
    if (call !== 'build' && call !== 'check') {
      throw new KilnError('INVALID_FLAG', `--check conflicts with --call=${call}`, {
        hint: '--check is --call=check; give one of them',
      });
    }
    return 'check';
  }
  if (call === 'build' || call === 'check') return call;
  throw new KilnError('INVALID_FLAG', `unsupported --call "${call}"`, {
    hint: 'kiln evaluates --call=build (the default) and --call=check (same as --check)',
  });
}

/** Run the checks, print the report, and set the exit status. */
export async function runCheck(
  opts: BuildOptions,
  root: string | undefined,
  close: () => void,
): Promise<void> {
  const { checkBuild } = await import('../../pipeline/check.ts');
  let result: Awaited<ReturnType<typeof checkBuild>>;
  try {
    result = await checkBuild(opts, { root });
  } finally {
    close();
  }
  process.stdout.write(checkReport(result.warnings, result.source));
  if (result.error) {
    if (result.warnings.length > 0) process.stdout.write('\n');
    throw result.error;
  }
  if (result.warnings.length > 0) process.exitCode = 1;
}
