/**
 * The Dockerfile frontend's converter: Dockerfile text → kiln build graph plus image config.
 * `convertDockerfile` checks the `syntax` and `check` directives, parses with the parser and
 * instructions modules and converts; the engine supplies an ImageConfigResolver for base images.
 */
import { KilnError, type SourceLocation } from '../../../errors/errors.ts';
import { syntaxChecks } from '../checks/syntax.ts';
import { parseInstruction, parseStages } from '../instructions/parse.ts';
import type { Instruction } from '../instructions/types.ts';
import { parseDockerfile } from '../parser/index.ts';
import { applyLint, builtinSyntax, lintConfig } from './directives.ts';
import { convertInstructions } from './stages.ts';
import type { ConvertOptions, ConvertResult } from './types.ts';

export { convertInstructions } from './stages.ts';
export type { ConvertInstructionsOptions, TriggerParser } from './types.ts';

/** Parse one ONBUILD trigger expression (from a base image's config) into an instruction. */
export function parseTrigger(expression: string, location: SourceLocation): Instruction {
  const parsed = parseDockerfile(expression, { file: location.file });
  if (parsed.ast.children.length !== 1) {
    throw new KilnError('DOCKERFILE_INVALID_ONBUILD', 'onbuild trigger should be a single expression', {
      location,
      hint: `the base image has a malformed ONBUILD trigger: ${JSON.stringify(expression)}`,
    });
  }
  const ins = parseInstruction(parsed.ast.children[0], { file: location.file });
  if (ins.kind === 'FROM' || ins.kind === 'ONBUILD') {
    throw new KilnError('DOCKERFILE_INVALID_ONBUILD', `${ins.kind} isn't allowed as an ONBUILD trigger`, {
      location,
      hint: 'the base image has an invalid ONBUILD trigger',
    });
  }
  return { ...ins, location };
}

/** Convert a Dockerfile to a build graph (BuildKit's dockerfile2llb). */
export async function convertDockerfile(source: string, opts: ConvertOptions): Promise<ConvertResult> {
  const file = opts.file ?? 'Dockerfile';
  if (source.trim() === '') {
    throw new KilnError('DOCKERFILE_EMPTY', `the Dockerfile cannot be empty (${file})`, {
      hint: 'start it with a FROM instruction',
    });
  }
  const syntax = builtinSyntax(source, file);
  const lint = lintConfig(source, file, opts.buildArgs ?? {});
  const parsed = parseDockerfile(source, { file });
  const instructions = parseStages(parsed);
  const earlyWarnings = syntaxChecks(parsed, source);
  const result = await convertInstructions(instructions, { ...opts, file, parseTrigger, earlyWarnings });
  const { warnings, error } = applyLint(result.warnings, lint);
  return { ...result, warnings, lintError: error, ...(syntax ? { syntax } : {}) };
}
