/** The Dockerfile converter's public surface. */
export type { TriggerParser } from './convert.ts';
export { convertDockerfile, convertInstructions, parseTrigger } from './convert.ts';
export { parsePort, parsePorts } from './expose.ts';
export type { ConvertOptions, ConvertResult, ConvertWarning, ImageConfigResolver } from './types.ts';
