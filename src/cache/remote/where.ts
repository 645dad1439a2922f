/**
 * Where a travelling cache lives: a registry repository or an OCI layout directory, opened as an
 * ImageSource to import from or an ImageSink to export to, and the record read out of what is
 * found there (a kiln cache artifact, or an image carrying an inline record). Every manifest and
 * config read here is verified against its digest and bounded in size by `image/copy.ts`.
 */
import type { Digest } from '../../digest/digest.ts';
import { KilnError } from '../../errors/errors.ts';
import type { ImageSink, ImageSource } from '../../image/image.ts';
import { loadConfig, loadIndex, loadManifest, resolvePlatformManifest } from '../../image/load.ts';
import { layoutSource, OciLayoutSink, readLayoutIndex } from '../../layout/layout.ts';
import type { Descriptor } from '../../oci/descriptor.ts';
import { isIndexType } from '../../oci/mediatypes.ts';
import type { Platform } from '../../oci/platform.ts';
import type { ProgressSink } from '../../progress/events.ts';
import { parseReference, type Reference } from '../../reference/reference.ts';
import type { RegistryClient } from '../../registry/client.ts';
import {
  CACHE_ANNOTATION,
  type CacheRecord,
  INLINE_ANNOTATION,
  parseRecord,
  RECORD_FIELD,
} from './record.ts';
import { type CacheSpec, describeCacheSpec } from './spec.ts';

export interface WhereDeps {
  registry: () => Promise<RegistryClient>;
  onProgress?: ProgressSink;
}

/** The reference of a registry cache, with `latest` when it names no tag. */
export function cacheReference(spec: CacheSpec): Reference {
  const ref = parseReference(spec.ref as string);
  return ref.tag || ref.digest ? ref : { ...ref, tag: 'latest' };
}

/** Open what `spec` names for reading. Throws (MANIFEST_NOT_FOUND, NOT_OCI_LAYOUT, …) when absent. */
export async function openCacheSource(spec: CacheSpec, deps: WhereDeps): Promise<ImageSource> {
  if (spec.type === 'local') {
    const dir = spec.dir as string;
    if (spec.digest) {
      const index = await readLayoutIndex(dir);
      const entry = index.manifests.find((m) => m.digest === spec.digest);
      if (!entry)
        throw new KilnError('CACHE_RECORD_INVALID', `OCI layout ${dir} has no manifest ${spec.digest}`);
      return { root: entry, blobs: (await layoutSource(dir, entryNameOf(entry))).blobs };
    }
    return layoutSource(dir, spec.tag);
  }
  const { resolveImage } = await import('../../registry/source.ts');
  return resolveImage(await deps.registry(), cacheReference(spec), {
    platform: 'all',
    onProgress: deps.onProgress,
  });
}

function entryNameOf(d: Descriptor): string | undefined {
  return d.annotations?.['org.opencontainers.image.ref.name'];
}

/** Open what `spec` names for writing, and the tag the record goes under. */
export async function openCacheSink(
  spec: CacheSpec,
  deps: WhereDeps,
  pushedTo: readonly string[] = [],
  mountFrom?: (domain: string, digest: string) => string[],
): Promise<{ sink: ImageSink & { stats?: { bytes: number } }; tag: string }> {
  if (spec.type === 'local')
    return { sink: new LockedLayoutSink(spec.dir as string), tag: spec.tag ?? 'latest' };
  const ref = cacheReference(spec);
  if (ref.digest || !ref.tag)
    throw new KilnError(
      'INVALID_CACHE_SPEC',
      `--cache-to ref=${spec.ref}: a cache is pushed to a tag, not a digest`,
    );
  const { RegistrySink } = await import('../../registry/sink.ts');
  // Layers the build just pushed with its image are mounted from there, not uploaded again.
  const pushed = pushedTo.flatMap((r) => {
    const p = parseReference(r);
    return p.domain === ref.domain ? [p.path] : [];
  });
  const sink = new RegistrySink(await deps.registry(), ref, {
    onProgress: deps.onProgress,
    mountFrom: (digest) => [...(mountFrom?.(ref.domain, digest) ?? []), ...pushed],
  });
  return { sink, tag: ref.tag };
}

/** How long a layout's index lock may be held before another writer takes it as abandoned. */
const STALE_LOCK_MS = 60_000;

/**
 * A layout sink whose index.json update is serialized across processes: blobs are written to
 * temp names and renamed (safe at once), but two writers naming different tags would each
 * read index.json, add their entry and write it back, and one entry would be lost. The lock is
 * a directory made with mkdir (atomic), removed when done, taken over when older than a minute
 * (its writer died).
 */
class LockedLayoutSink extends OciLayoutSink {
  override async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    if (tag === undefined) return super.putManifest(desc, bytes, tag);
    const { mkdir, rmdir, stat } = await import('node:fs/promises');
    const { join } = await import('node:path');
    await mkdir(this.dir, { recursive: true });
    const lock = join(this.dir, '.kiln-index.lock');
    const deadline = Date.now() + 2 * STALE_LOCK_MS;
    for (;;) {
      try {
        await mkdir(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw err;
        const age = await stat(lock).then(
          (st) => Date.now() - st.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS) await rmdir(lock).catch(() => {});
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
      }
    }
    try {
      await super.putManifest(desc, bytes, tag);
    } finally {
      await rmdir(lock).catch(() => {});
    }
  }

  /**
   * A cache's entry is named by its tag alone (`org.opencontainers.image.ref.name`), as BuildKit's
   * local cache names it: the tag is no image name, and `one` and `two` must stay two entries.
   */
  override async addToIndex(desc: Descriptor, name: string): Promise<void> {
    const { writeFileAtomic } = await import('../../sys/atomic-write.ts');
    const { join } = await import('node:path');
    const index = await readLayoutIndex(this.dir);
    index.manifests = index.manifests.filter((e) => e.annotations?.[REF_NAME] !== name);
    index.manifests.push({
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations: { [REF_NAME]: name },
    });
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index));
  }
}

const REF_NAME = 'org.opencontainers.image.ref.name';

export interface FoundRecord {
  record: CacheRecord;
  /** Where the record's layers are read from. */
  source: ImageSource;
}

/**
 * The record in what a cache source holds: a kiln cache artifact (the record in its config),
 * or an image whose manifest carries an inline record for `platform`. Anything else is foreign.
 */
export async function readRecord(
  spec: CacheSpec,
  source: ImageSource,
  platform: Platform,
): Promise<FoundRecord> {
  const where = describeCacheSpec(spec);
  let root: Descriptor = source.root;
  if (isIndexType(root.mediaType)) {
    const index = await loadIndex(source.blobs, root);
    const marked = index.manifests.find((m) => m.annotations?.[CACHE_ANNOTATION] !== undefined);
    root = marked ?? (await resolvePlatformManifest(source, platform)).descriptor;
  }
  const manifest = await loadManifest(source.blobs, root);
  const inline = manifest.annotations?.[INLINE_ANNOTATION];
  if (inline !== undefined) {
    const config = await loadConfig(source.blobs, manifest);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length)
      throw new KilnError(
        'CACHE_RECORD_INVALID',
        `image at ${where} has ${manifest.layers.length} layers but ${diffIds.length} diff_ids`,
      );
    const raw = parseJson(inline, where);
    const record = parseRecord(
      typeof raw === 'object' && raw !== null ? { ...raw, layers: [] } : raw,
      where,
      manifest.layers.length,
    );
    record.layers = manifest.layers.map((l, i) => ({
      digest: l.digest,
      diffID: diffIds[i],
      size: l.size,
      mediaType: l.mediaType,
    }));
    return { record, source };
  }
  // A kiln cache artifact: marked by annotation (OCI), or (a Docker schema 2 manifest, which
  // has no annotations) by the record field in its config.
  const config = (await loadConfig(source.blobs, manifest)) as unknown as Record<string, unknown>;
  if (config[RECORD_FIELD] === undefined)
    throw new KilnError(
      'CACHE_RECORD_INVALID',
      `${where} holds an image without kiln cache (no ${INLINE_ANNOTATION} annotation, no ${RECORD_FIELD} record)`,
      {
        hint: 'build it with --cache-to type=inline, or export a cache with --cache-to type=registry',
      },
    );
  const record = parseRecord(config[RECORD_FIELD], where);
  // Every layer the record names must be one the artifact lists: nothing is fetched from
  // outside what was verified to belong to it.
  const listed = new Set<Digest>(manifest.layers.map((l) => l.digest));
  for (const l of record.layers)
    if (!listed.has(l.digest as Digest))
      throw new KilnError(
        'CACHE_RECORD_INVALID',
        `cache record from ${where} names layer ${l.digest}, which its manifest does not list`,
      );
  return { record, source };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new KilnError('CACHE_RECORD_INVALID', `inline cache record from ${where} is not valid JSON`, {
      cause,
    });
  }
}
