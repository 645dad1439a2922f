/**
 * The contract of a fuzz target: one small module per input kind (Dockerfiles, layer tars,
 * registry responses, …) exporting `target`. A case passes when it returns or throws a KilnError
 * with a code; anything else — another error, an unhandled 'error' event, a hang past
 * `caseTimeoutMs`, running out of memory — is a failure the harness reports with its seed.
 */
import type { Rng } from './random.ts';

export interface FuzzTarget<C = unknown> {
  name: string;
  /** Once per worker, before the first case (servers, scratch directories). */
  setup?(): Promise<C>;
  /** One case, everything drawn from `rng`. */
  run(rng: Rng, ctx: C): Promise<void>;
  teardown?(ctx: C): Promise<void>;
  /** Longest a case may take before it counts as a hang (default 10 s). */
  caseTimeoutMs?: number;
}
