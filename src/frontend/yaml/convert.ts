/** The YAML frontend (work in progress). */
import { KilnError } from '../../errors/errors.ts';
import type { ConvertOptions, ConvertResult } from '../dockerfile/convert/types.ts';

export async function convertYaml(_text: string, _opts: ConvertOptions): Promise<ConvertResult> {
  throw new KilnError('INVALID_BUILD_INPUT', 'YAML builds are not available yet');
}
