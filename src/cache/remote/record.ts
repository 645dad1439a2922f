/**
 * The kiln cache record: which cache keys produced which chain of layers (by digest and diffID),
 * when each layer was made (the image history time a hit needs to give the same image), and the
 * layers holding `RUN --mount=type=cache` contents by mount id. An imported record is hostile:
 * `parseRecord` checks its shape, digests, indexes and counts before anything uses it.
 */
import { KilnError } from '../../errors/errors.ts';

/** The image-config field the record lives in (registry and local caches). */
export const RECORD_FIELD = 'dev.kiln.cache.v1';
/** Manifest annotation marking a cache artifact (value: the record version). */
export const CACHE_ANNOTATION = 'dev.kiln.cache';
/** Manifest annotation of an image carrying its own cache (type=inline). */
export const INLINE_ANNOTATION = 'dev.kiln.cache.inline.v1';
/** Config label naming the artifact for people reading it with skopeo inspect. */
export const CACHE_LABEL = 'dev.kiln.cache.version';

export interface CacheLayer {
  digest: string;
  diffID: string;
  size: number;
  mediaType: string;
  uncompressedSize?: number;
}

export interface CacheResult {
  /** The solver's cache key (sha256 of vertex digest, input keys, content key). */
  key: string;
  /** The result's filesystem, bottom layer first, as indexes into `layers`. */
  layers: number[];
  /** When each layer was made (ISO), or null: image history times. */
  created: (string | null)[];
}

export interface CacheMount {
  /** The cache mount's id (`RUN --mount=type=cache,id=…`, else its target). */
  id: string;
  layer: number;
  /** The directory's own owner and permission bits (the layer holds only what is inside it). */
  uid?: number;
  gid?: number;
  mode?: number;
}

/**
 * A step keyed by what it copies from another stage, or built on one (solver ContentInputs): its
 * cheap key and the key its result is stored under, so an importing build finds the result
 * without solving that stage.
 */
export interface CacheLink {
  key: string;
  target: string;
}

export interface CacheRecord {
  layers: CacheLayer[];
  results: CacheResult[];
  mounts: CacheMount[];
  /** Absent in records written before links were. */
  links?: CacheLink[];
}

/** Bounds on what an import may ask kiln to track; real builds are far below them. */
export const MAX_LAYERS = 4096;
export const MAX_RESULTS = 16384;
export const MAX_CHAIN = 1024;
export const MAX_MOUNTS = 256;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const KEY = /^sha256:[0-9a-f]{64}$/;

function bad(where: string, why: string): KilnError {
  return new KilnError('CACHE_RECORD_INVALID', `cache record from ${where}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function array(v: unknown, max: number, where: string, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(where, `${what} is not a list`);
  if (v.length > max) throw bad(where, `${what} has ${v.length} entries (at most ${max})`);
  return v;
}

/**
 * Check an imported record. `layerCount` bounds the layer indexes when the layers come from
 * elsewhere (an inline record indexes the image's own layers).
 */
export function parseRecord(raw: unknown, where: string, layerCount?: number): CacheRecord {
  if (!isObject(raw)) throw bad(where, 'not a JSON object');
  const layers = array(raw.layers ?? [], MAX_LAYERS, where, 'layers').map((l, i) => {
    if (
      !isObject(l) ||
      typeof l.digest !== 'string' ||
      !DIGEST.test(l.digest) ||
      typeof l.diffID !== 'string' ||
      !DIGEST.test(l.diffID) ||
      typeof l.size !== 'number' ||
      !Number.isSafeInteger(l.size) ||
      l.size < 0 ||
      typeof l.mediaType !== 'string' ||
      l.mediaType.length > 255
    )
      throw bad(where, `layer ${i} is not {digest, diffID, size, mediaType}`);
    const out: CacheLayer = { digest: l.digest, diffID: l.diffID, size: l.size, mediaType: l.mediaType };
    if (typeof l.uncompressedSize === 'number' && Number.isSafeInteger(l.uncompressedSize))
      out.uncompressedSize = l.uncompressedSize;
    return out;
  });
  const count = layerCount ?? layers.length;
  const index = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= count)
      throw bad(where, `${what} names layer ${String(v)}, which is not there`);
    return v;
  };
  const results = array(raw.results ?? [], MAX_RESULTS, where, 'results').map((r, i) => {
    if (!isObject(r) || typeof r.key !== 'string' || !KEY.test(r.key))
      throw bad(where, `result ${i} has no valid key`);
    const chain = array(r.layers, MAX_CHAIN, where, `result ${i} layers`).map((l) => index(l, `result ${i}`));
    const created = array(r.created ?? [], MAX_CHAIN, where, `result ${i} created`).map((c) =>
      typeof c === 'string' && c.length <= 64 && !Number.isNaN(Date.parse(c)) ? c : null,
    );
    return { key: r.key, layers: chain, created };
  });
  const mounts = array(raw.mounts ?? [], MAX_MOUNTS, where, 'mounts').map((m, i) => {
    if (!isObject(m) || typeof m.id !== 'string' || m.id.length === 0 || m.id.length > 4096)
      throw bad(where, `mount ${i} has no valid id`);
    const out: CacheMount = { id: m.id, layer: index(m.layer, `mount ${i}`) };
    const id32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32;
    if (id32(m.uid)) out.uid = m.uid as number;
    if (id32(m.gid)) out.gid = m.gid as number;
    // Permission bits only: never a file type, and no setuid/setgid on a directory kiln made.
    if (typeof m.mode === 'number' && Number.isInteger(m.mode)) out.mode = m.mode & 0o1777;
    return out;
  });
  const links = array(raw.links ?? [], MAX_RESULTS, where, 'links').map((l, i) => {
    if (
      !isObject(l) ||
      typeof l.key !== 'string' ||
      !KEY.test(l.key) ||
      typeof l.target !== 'string' ||
      !KEY.test(l.target)
    )
      throw bad(where, `link ${i} is not {key, target}`);
    return { key: l.key, target: l.target };
  });
  return { layers, results, mounts, ...(links.length ? { links } : {}) };
}
