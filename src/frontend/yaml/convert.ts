/**
 * The YAML frontend: a kiln YAML build file → the build graph and the target image's config.
 * The file is read and checked (parse.ts), compiled into typed instructions (compile.ts) and
 * converted by the Dockerfile converter; the target is `--target`, else the last image.
 */
import { parseTrigger } from '../dockerfile/convert/convert.ts';
import { convertInstructions } from '../dockerfile/convert/stages.ts';
import type { ConvertOptions, ConvertResult } from '../dockerfile/convert/types.ts';
import { compileYaml } from './compile.ts';
import { parseKilnYaml } from './parse.ts';

export async function convertYaml(text: string, opts: ConvertOptions): Promise<ConvertResult> {
  const file = opts.file ?? 'kiln.yaml';
  const instructions = compileYaml(parseKilnYaml(text, file));
  return convertInstructions(instructions, { ...opts, file, parseTrigger });
}

/** The platforms the target image lists (`platforms:`), for a build that names none. */
export function yamlPlatforms(text: string, file: string, target?: string): string[] | undefined {
  const { spec } = parseKilnYaml(text, file);
  const im = target ? spec.images.find((i) => i.name === target.toLowerCase()) : spec.images.at(-1);
  return im?.platforms;
}
