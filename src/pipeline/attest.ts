/**
 * The attestations a build asked for (`--sbom`, `--provenance`, `--attest`), with what the
 * build knows of itself for the provenance: the Dockerfile, build args, target, local contexts,
 * each platform's graph and when it started. The exporter writes them (exporter/attestations.ts).
 */
import { basename } from 'node:path';
import type { AttestRequest } from '../exporter/attestations.ts';
import { formatPlatform } from '../oci/platform.ts';
import { isoSeconds } from '../sys/time.ts';
import type { BuildOptions } from './options.ts';
import type { Plan } from './plan.ts';

export function attestRequest(
  opts: BuildOptions,
  planned: Plan,
  buildId: string,
  startedOn: Date,
): AttestRequest | undefined {
  if (!opts.attest) return undefined;
  const input = planned.input;
  return {
    options: opts.attest,
    tool: 'kiln',
    roots: new Map(planned.platforms.map((p, i) => [formatPlatform(p), planned.graphs[i].root])),
    build: {
      buildId,
      startedOn: isoSeconds(startedOn),
      dockerfileName: input.dockerfilePath === '-' ? 'Dockerfile' : basename(input.dockerfilePath),
      dockerfileText: input.dockerfileText,
      buildArgs: opts.buildArgs,
      target: opts.target,
      locals: Object.keys(input.contexts),
    },
  };
}
