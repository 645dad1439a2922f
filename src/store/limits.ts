/**
 * Resource limits a state root sets for what hostile images may cost, read from the `[limits]`
 * table of `$KILN_ROOT/kiln.toml`: how large a layer may grow when it is unpacked. A missing
 * file or key means the default.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';

export interface Limits {
  /** A layer may unpack to this many times its compressed size… */
  layerExpansion: number;
  /** …or to this many bytes, whichever is more (small layers of zeros are legitimate)… */
  layerFloor: number;
  /** …and never to more than this many bytes (0: no hard maximum). */
  layerMax: number;
}

/**
 * gzip tops out near 1032:1 and real layers sit at 2–10:1; a sparse or zero-filled file can
 * reach hundreds, so 100× with a 1 GiB floor lets every ordinary image through while a bomb
 * (a few MB that claim terabytes) stops after at most max(1 GiB, 100× its size) on disk.
 */
export const DEFAULT_LIMITS: Limits = { layerExpansion: 100, layerFloor: 1 << 30, layerMax: 0 };

const KEYS: Record<string, keyof Limits> = {
  'layer-expansion': 'layerExpansion',
  'layer-floor': 'layerFloor',
  'layer-max': 'layerMax',
};

/** The config file of a state root. */
export function rootConfigPath(root: string): string {
  return join(root, 'kiln.toml');
}

/** The limits `root` configures (defaults for whatever it does not set). */
export async function loadLimits(root: string): Promise<Limits> {
  const file = rootConfigPath(root);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { ...DEFAULT_LIMITS };
    throw invalid(file, (err as Error).message);
  }
  // smol-toml loads only when a root has a config file: most runs never pay for it.
  const { parse } = await import('smol-toml');
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw invalid(file, (cause as Error).message);
  }
  const limits = { ...DEFAULT_LIMITS };
  const table = doc.limits;
  if (table === undefined) return limits;
  if (typeof table !== 'object' || table === null || Array.isArray(table))
    throw invalid(file, '"limits" must be a table');
  for (const [key, value] of Object.entries(table)) {
    const field = KEYS[key];
    if (!field) throw invalid(file, `unknown setting limits.${key}`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      throw invalid(file, `limits.${key} must be a whole number ≥ 0, not ${JSON.stringify(value)}`);
    limits[field] = value;
  }
  return limits;
}

/** The most bytes a layer of `compressedSize` bytes may unpack to under `limits`. */
export function layerLimit(limits: Limits, compressedSize: number): number {
  const relative = Math.max(limits.layerFloor, limits.layerExpansion * compressedSize);
  return limits.layerMax > 0 ? Math.min(relative, limits.layerMax) : relative;
}

function invalid(file: string, message: string): KilnError {
  return new KilnError('INVALID_ROOT_CONFIG', `${file}: ${message}`, {
    hint: 'write e.g. [limits] with layer-expansion = 100, layer-floor = 1073741824, layer-max = 0 (bytes)',
  });
}
