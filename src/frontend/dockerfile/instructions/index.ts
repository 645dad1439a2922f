/** Public surface of the typed Dockerfile instruction layer. */
export { BFlags, Flag, FlagError } from './bflag.ts';
export { EXPANDED_FIELDS, type Expanders, expandInstruction } from './expand.ts';
export {
  handleJSONArgs,
  INSTRUCTION_NAMES,
  InstructionError,
  type ParseInstructionOptions,
  parseGoDuration,
  parseInstruction,
  parseOptInterval,
  parseStages,
} from './parse.ts';
export {
  parseDevice,
  parseMount,
  parseMounts,
  parseNetwork,
  parseSecurity,
  RunFlagError,
} from './runmount.ts';
export { closest, suggest } from './suggest.ts';
export type * from './types.ts';
