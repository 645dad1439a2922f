/**
 * `kiln build`'s attestation flags, as buildx's: `--sbom[=VALUE]`, `--provenance[=VALUE]`,
 * `--attest type=…` (repeatable). A bare `--sbom` or `--provenance` before the context would
 * take the context as its value (commander's optional values do; pflag's do not): such a value
 * that is no attestation value is given back as the context.
 */
import type { Command } from 'commander';
import { type AttestOptions, isAttestValue, parseAttestFlags } from '../../attest/options.ts';
import { KilnError } from '../../errors/errors.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

export function attestFlags(cmd: Command): Command {
  return cmd
    .option('--sbom [value]', 'attach an SPDX SBOM attestation: true, false or generator=IMAGE')
    .option('--provenance [value]', 'attach SLSA provenance: true, false, mode=min or mode=max')
    .option('--attest <spec>', 'attach an attestation: type=sbom|provenance,… (repeatable)', collect, []);
}

/** The attestations asked for, and the context (taken back from a flag that swallowed it). */
export function attestFlagValues(
  o: Record<string, unknown>,
  context: string | undefined,
): { attest?: AttestOptions; context: string } {
  let ctx = context;
  for (const k of ['sbom', 'provenance'] as const) {
    const v = o[k];
    if (ctx === undefined && typeof v === 'string' && !isAttestValue(v)) {
      ctx = v;
      o[k] = true;
    }
  }
  if (ctx === undefined)
    throw new KilnError('INVALID_FLAG', "missing required argument 'context'", {
      hint: 'name the build context: kiln build [flags] DIR (or - for a tar on stdin)',
    });
  return {
    attest: parseAttestFlags({
      sbom: o.sbom as string | boolean | undefined,
      provenance: o.provenance as string | boolean | undefined,
      attest: o.attest as string[],
    }),
    context: ctx,
  };
}
