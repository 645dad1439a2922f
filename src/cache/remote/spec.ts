/**
 * `--cache-to` / `--cache-from` (and buildctl's `--export-cache` / `--import-cache`) in buildx's
 * syntax: `type=registry,ref=R/cache,mode=max`, `type=local,dest=DIR`, `type=inline`, or a bare
 * reference meaning `type=registry,ref=REF`. Every key a type takes is checked here; any other
 * key is an error, so a typo never silently exports nothing.
 */
import { KilnError } from '../../errors/errors.ts';
import type { Compression } from '../../oci/mediatypes.ts';
import { splitCsv } from '../../sys/csv.ts';

export type CacheType = 'registry' | 'local' | 'inline';

export interface CacheSpec {
  type: CacheType;
  /** type=registry (and inline imports): the repository reference of the cache artifact. */
  ref?: string;
  /** type=local: the OCI layout directory (`dest=` for export, `src=` for import). */
  dir?: string;
  /** type=local: the index.json name of the record (default `latest`). */
  tag?: string;
  /** type=local import: take the record by manifest digest instead of by tag. */
  digest?: string;
  /** min (default): the final image's steps; max: every step of every stage. */
  mode: 'min' | 'max';
  /** Layer compression of what is exported (default gzip). */
  compression: Compression;
  ociMediaTypes: boolean;
  /** Write an image manifest (default) rather than an index wrapping it. */
  imageManifest: boolean;
  /** An export failure is a warning instead of failing the build. */
  ignoreError: boolean;
  /** kiln's own key: export and restore the contents of `RUN --mount=type=cache` directories. */
  cacheMounts: boolean;
}

const COMMON = new Set([
  'type',
  'mode',
  'compression',
  'oci-mediatypes',
  'image-manifest',
  'ignore-error',
  'cache-mounts',
]);
const KEYS: Record<CacheType, Set<string>> = {
  registry: new Set([...COMMON, 'ref', 'force-compression', 'compression-level']),
  local: new Set([...COMMON, 'dest', 'src', 'tag', 'digest', 'force-compression', 'compression-level']),
  inline: new Set(['type', 'mode', 'ref', 'cache-mounts']),
};

function invalid(flag: string, text: string, why: string, hint?: string): KilnError {
  return new KilnError('INVALID_CACHE_SPEC', `invalid ${flag} "${text}": ${why}`, {
    hint:
      hint ??
      `use ${flag} type=registry,ref=REPO[,mode=max], type=local,${flag === '--cache-to' ? 'dest' : 'src'}=DIR or type=inline`,
  });
}

function bool(flag: string, text: string, key: string, v: string): boolean {
  if (v === 'true' || v === '1' || v === '') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(flag, text, `${key} must be true or false, got "${v}"`);
}

/**
 * One flag value. `direction` decides which keys make sense (`dest=` exports, `src=` imports)
 * and what a bare value means (a reference, for both, as buildx takes it).
 */
export function parseCacheSpec(text: string, direction: 'to' | 'from'): CacheSpec {
  const flag = direction === 'to' ? '--cache-to' : '--cache-from';
  const fields = splitCsv(text, () => invalid(flag, text, 'unterminated quote'));
  if (fields.length === 0) throw invalid(flag, text, 'empty value');
  // buildx: a value without '=' is a registry reference.
  if (fields.length === 1 && !fields[0].includes('=')) fields[0] = `ref=${fields[0]}`;
  const kv = new Map<string, string>();
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalid(flag, text, `"${f}" is not KEY=VALUE`);
    kv.set(f.slice(0, eq).toLowerCase(), f.slice(eq + 1));
  }
  const named = kv.get('type') ?? 'registry';
  const type = named as CacheType;
  if (!Object.hasOwn(KEYS, named)) {
    const hint =
      named === 'gha' || named === 's3' || named === 'azblob'
        ? `kiln has no ${type} cache backend; push the cache to a registry (type=registry,ref=REPO) or a directory (type=local)`
        : undefined;
    throw invalid(flag, text, `unknown cache type "${type}"`, hint);
  }
  for (const k of kv.keys())
    if (!KEYS[type].has(k)) throw invalid(flag, text, `type=${type} takes no key "${k}"`);
  const spec: CacheSpec = {
    type,
    mode: 'min',
    compression: 'gzip',
    ociMediaTypes: true,
    imageManifest: true,
    ignoreError: false,
    cacheMounts: false,
  };
  const mode = kv.get('mode');
  if (mode !== undefined) {
    if (mode !== 'min' && mode !== 'max') throw invalid(flag, text, `mode must be min or max, got "${mode}"`);
    if (type === 'inline' && mode === 'max')
      throw invalid(flag, text, 'inline cache supports only mode=min', 'use type=registry for mode=max');
    spec.mode = mode;
  }
  const compression = kv.get('compression');
  if (compression !== undefined) {
    if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'uncompressed')
      throw invalid(flag, text, `compression must be gzip, zstd or uncompressed, got "${compression}"`);
    spec.compression = compression;
  }
  const flags: [string, keyof CacheSpec][] = [
    ['oci-mediatypes', 'ociMediaTypes'],
    ['image-manifest', 'imageManifest'],
    ['ignore-error', 'ignoreError'],
    ['cache-mounts', 'cacheMounts'],
  ];
  for (const [k, field] of flags) {
    const v = kv.get(k);
    if (v !== undefined) (spec as unknown as Record<string, boolean>)[field] = bool(flag, text, k, v);
  }
  spec.ref = kv.get('ref');
  if (type === 'local') {
    const dir = direction === 'to' ? kv.get('dest') : kv.get('src');
    const wrong = direction === 'to' ? 'src' : 'dest';
    if (kv.has(wrong))
      throw invalid(flag, text, `${wrong}= belongs to ${direction === 'to' ? '--cache-from' : '--cache-to'}`);
    if (!dir) throw invalid(flag, text, `type=local needs ${direction === 'to' ? 'dest' : 'src'}=DIR`);
    spec.dir = dir;
    spec.tag = kv.get('tag') ?? 'latest';
    const digest = kv.get('digest');
    if (digest !== undefined) {
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw invalid(flag, text, `digest must be sha256:<64 hex>`);
      spec.digest = digest;
    }
  }
  if (type === 'registry' && !spec.ref) throw invalid(flag, text, 'type=registry needs ref=REPOSITORY');
  if (type === 'inline' && direction === 'from' && !spec.ref)
    throw invalid(flag, text, 'importing inline cache needs the image: ref=IMAGE (or --cache-from IMAGE)');
  return spec;
}

/** A short name for progress and warnings: the reference, or the directory. */
export function describeCacheSpec(spec: CacheSpec): string {
  if (spec.type === 'local') return `${spec.dir}${spec.tag && spec.tag !== 'latest' ? `:${spec.tag}` : ''}`;
  return spec.ref ?? 'the pushed image';
}
