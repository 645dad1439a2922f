/**
 * Removing images as docker does: `rmi` untags a name and deletes the image when no name is left
 * (an ID deletes it with all its names, with force when it has several); `image prune` deletes
 * unnamed images (every image with `all`) that pass the filters. Content nothing needs any more
 * is then collected, and the bytes that freed are reported.
 */
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import {
  findImage,
  imageId,
  type QueryStore,
  resolveImage,
  type StoredImage,
  storedImages,
} from '../imagestore/query.ts';
import { familiarName, parseReference } from '../reference/reference.ts';
import { collectGarbage } from './gc.ts';

/** One line of docker's answer: a name removed, or an image deleted (by image ID). */
export type RemovedItem = { untagged: string } | { deleted: Digest };

export interface RemoveResult {
  items: RemovedItem[];
  /** Bytes the store freed (blobs and temps no image or running build needs). */
  reclaimedBytes: number;
}

async function idOfImage(store: QueryStore, img: StoredImage): Promise<Digest> {
  const r = await resolveImage(store.content, img.record).catch(() => undefined);
  return r ? imageId(r) : img.target.digest;
}

/** Delete every record of `img` (its names and its unnamed record), listing what went. */
async function deleteImage(store: QueryStore, img: StoredImage, items: RemovedItem[]): Promise<void> {
  const id = await idOfImage(store, img);
  for (const n of img.names) {
    if (await store.images.delete(n)) items.push({ untagged: familiarName(parseReference(n)) });
  }
  await store.images.deleteUnnamed(img.target.digest);
  items.push({ deleted: id });
}

/**
 * `kiln rmi`: a name is untagged (the image goes with its last name); an ID removes the image,
 * which needs `force` when several names point at it.
 */
export async function removeImages(
  store: QueryStore,
  refs: string[],
  opts: { force?: boolean; noPrune?: boolean } = {},
): Promise<RemoveResult> {
  const items: RemovedItem[] = [];
  for (const text of refs) {
    const rec = await findImage(store, text);
    const img = (await storedImages(store)).find((x) => x.target.digest === rec.target.digest);
    if (!img) continue;
    const byName = img.names.includes(rec.name) && (await isNameOf(store, text, rec.name));
    if (byName && img.names.length > 1) {
      if (await store.images.delete(rec.name))
        items.push({ untagged: familiarName(parseReference(rec.name)) });
      continue;
    }
    if (!byName && img.names.length > 1 && !opts.force) {
      throw new KilnError(
        'IMAGE_AMBIGUOUS',
        `unable to delete ${text} (must be forced): image is referenced by ${img.names.length} names: ${img.names
          .map((n) => familiarName(parseReference(n)))
          .join(', ')}`,
        { hint: 'remove the names one by one, or pass --force to remove them all' },
      );
    }
    await deleteImage(store, img, items);
  }
  const deleted = items.some((i) => 'deleted' in i);
  const reclaimedBytes = deleted && !opts.noPrune ? (await collectGarbage(store)).reclaimedBytes : 0;
  return { items, reclaimedBytes };
}

/** Whether `text` names the record `name` (rather than giving an ID that found it). */
async function isNameOf(store: QueryStore, text: string, name: string): Promise<boolean> {
  try {
    return (await store.images.get(text))?.name === name;
  } catch {
    return false;
  }
}

export interface PruneFilters {
  /** Only images created before this time (epoch ms): docker's `until=`. */
  until?: number;
  /** `label=KEY` or `label=KEY=VALUE`: every one must match. */
  labels?: string[];
  /** `label!=KEY` or `label!=KEY=VALUE`: none may match. */
  notLabels?: string[];
}

function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return filter in labels;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/**
 * `kiln image prune`: delete unnamed images (with `all`, every image: kiln runs no containers,
 * so none is in use), keeping those the filters exclude.
 */
export async function pruneImages(
  store: QueryStore,
  opts: { all?: boolean; filters?: PruneFilters } = {},
): Promise<RemoveResult> {
  const f = opts.filters ?? {};
  const items: RemovedItem[] = [];
  for (const img of await storedImages(store)) {
    if (!opts.all && img.names.length > 0) continue;
    const r = await resolveImage(store.content, img.record).catch(() => undefined);
    const created = Date.parse(r?.config.created ?? img.storedAt);
    if (f.until !== undefined && !(created < f.until)) continue;
    const labels = r?.config.config?.Labels ?? {};
    if (f.labels?.some((l) => !labelMatches(labels, l))) continue;
    if (f.notLabels?.some((l) => labelMatches(labels, l))) continue;
    await deleteImage(store, img, items);
  }
  const reclaimedBytes = items.length ? (await collectGarbage(store)).reclaimedBytes : 0;
  return { items, reclaimedBytes };
}
