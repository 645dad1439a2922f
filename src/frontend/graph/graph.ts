/**
 * The graph frontend: a graph definition given as JSON (`kiln build --graph FILE`, what `kiln
 * debug graph` prints) is the build's graph as it stands. This picks the result to build (the
 * `--target`, else the one named for the platform, else `default`) and checks that it was made
 * for the platform being built; parsing and validation are graph/json.ts's.
 */
import { KilnError } from '../../errors/errors.ts';
import { parseGraphJson } from '../../graph/json.ts';
import { formatPlatform, type Platform } from '../../oci/platform.ts';
import type { ConvertResult } from '../dockerfile/convert/types.ts';

export interface GraphFrontendOptions {
  /** Shown in errors. */
  file: string;
  platform: Platform;
  target?: string;
}

export function convertGraph(text: string, opts: GraphFrontendOptions): ConvertResult {
  const def = parseGraphJson(text, opts.file);
  const names = Object.keys(def.results);
  const wanted = formatPlatform(opts.platform);
  const name =
    opts.target ??
    (def.results[wanted]
      ? wanted
      : def.results.default
        ? 'default'
        : names.length === 1
          ? names[0]
          : undefined);
  const result = name === undefined ? undefined : def.results[name];
  if (!result || name === undefined) {
    throw new KilnError(
      'GRAPH_RESULT_NOT_FOUND',
      `graph ${opts.file} has no result ${opts.target ? `"${opts.target}"` : `for ${wanted} and none named "default"`} (it has ${names.join(', ')})`,
    );
  }
  const c = result.config;
  const made = formatPlatform({ os: c.os, architecture: c.architecture, variant: c.variant });
  if (made !== wanted) {
    throw new KilnError(
      'GRAPH_RESULT_NOT_FOUND',
      `result "${name}" of graph ${opts.file} was made for ${made}, and this build is for ${wanted}`,
      { hint: `build it with --platform ${made}, or make the graph for ${wanted}` },
    );
  }
  return {
    definition: def,
    root: result.root,
    config: structuredClone(result.config),
    target: name,
    warnings: [],
  };
}
