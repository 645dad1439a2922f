/**
 * The build cache's size policy: `kiln builder prune --keep-storage SIZE --filter until=DURATION`
 * and the `[gc]` table of `$KILN_ROOT/kiln.toml` (`keep-storage = "10GB"`, `keep-duration =
 * "48h"`), applied after every build so a long-lived CI runner's root does not grow without bound.
 */
import { readFileSync } from 'node:fs';
import { isErrno, KilnError } from '../errors/errors.ts';

export interface GcPolicy {
  /** Keep at most this many bytes of build-cache snapshots. */
  keepStorage?: number;
  /** Forget results unused for longer than this (ms). */
  keepDurationMs?: number;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

/** A size as docker's `--keep-storage` takes it (go-units RAMInBytes: `512m`, `10GB`, `1.5GiB`, bytes). */
export function parseStorageSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()]) : Number.NaN;
  if (!Number.isSafeInteger(bytes))
    throw new KilnError('INVALID_FLAG', `${what}: "${text}" is not a size`, {
      hint: 'give bytes or a size with a unit: 512m, 10GB, 1073741824',
    });
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as Go writes one (`48h`, `90m`, `1h30m`; kiln also takes `7d`). */
export function parseDuration(text: string, what: string): number {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t))
    throw new KilnError('INVALID_FLAG', `${what}: "${text}" is not a duration`, {
      hint: 'give a duration such as 48h, 90m or 7d',
    });
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]];
  return ms;
}

/** The `[gc]` table of a root's kiln.toml; undefined when there is none (the common case). */
export async function loadGcPolicy(configFile: string): Promise<GcPolicy | undefined> {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  if (!/^\s*\[gc\]/m.test(text)) return undefined;
  const { parse } = await import('smol-toml');
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new KilnError('CONFIG_INVALID', `${configFile}: ${(cause as Error).message}`, { cause });
  }
  const gc = doc.gc;
  if (typeof gc !== 'object' || gc === null || Array.isArray(gc))
    throw new KilnError('CONFIG_INVALID', `${configFile}: "gc" must be a table`);
  const policy: GcPolicy = {};
  for (const [key, value] of Object.entries(gc)) {
    const where = `${configFile}: gc.${key}`;
    if (key === 'keep-storage')
      policy.keepStorage = typeof value === 'number' ? value : parseStorageSize(String(value), where);
    else if (key === 'keep-duration')
      policy.keepDurationMs =
        typeof value === 'number' ? value * 3_600_000 : parseDuration(String(value), where);
    else
      throw new KilnError('CONFIG_INVALID', `${configFile}: unknown setting gc.${key}`, {
        hint: 'the [gc] table takes keep-storage and keep-duration',
      });
  }
  return policy;
}

/**
 * After a build: prune the build cache to the root's `[gc]` policy, if it has one. Snapshots a
 * running build holds (this one's included) stay, as with `kiln builder prune`.
 */
export async function applyGcPolicy(
  root: string,
  cache: import('./build-cache.ts').BuildCache,
): Promise<void> {
  const { rootConfigPath } = await import('../store/limits.ts');
  const policy = await loadGcPolicy(rootConfigPath(root));
  if (!policy) return;
  const [{ pruneBuildCache }, { openSnapshotter }, { join }] = await Promise.all([
    import('./prune.ts'),
    import('../store/snapshots.ts'),
    import('node:path'),
  ]);
  const sn = await openSnapshotter(join(root, 'snapshots'));
  try {
    await pruneBuildCache(cache, sn, {
      unusedForMs: policy.keepDurationMs ?? Number.POSITIVE_INFINITY,
      keepStorage: policy.keepStorage,
    });
  } finally {
    await sn.release();
  }
}
