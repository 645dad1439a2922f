/**
 * `docker image history` as data: the config's history, newest first, each step matched to the
 * layer it made (uncompressed size), with the image ID on the top row and `<missing>` below it,
 * as docker shows an image whose parent images are not stored on their own.
 */
import type { Digest } from '../digest/digest.ts';
import type { Platform } from '../oci/platform.ts';
import { familiarName, parseReference } from '../reference/reference.ts';
import { findImage, imageId, type QueryStore, resolveImage, storedImages } from './query.ts';
import { LayerSizes } from './sizes.ts';

export interface HistoryRow {
  /** The image ID on the top row; undefined below it (docker's `<missing>`). */
  id?: Digest;
  /** ISO time of the step, when recorded. */
  created?: string;
  createdBy: string;
  /** Uncompressed bytes of the layer the step made; 0 for steps that changed only config. */
  size: number;
  comment: string;
  /** Names of the image, on the top row (docker's Tags). */
  tags: string[];
  emptyLayer: boolean;
}

export async function imageHistory(
  store: QueryStore,
  nameOrId: string,
  platform?: Platform,
): Promise<HistoryRow[]> {
  const record = await findImage(store, nameOrId);
  const r = await resolveImage(store.content, record, platform);
  const sizes = new LayerSizes(store.content, store.meta);
  const layers = [...r.manifest.layers];
  const rows: HistoryRow[] = [];
  for (const h of r.config.history ?? []) {
    const layer = h.empty_layer ? undefined : layers.shift();
    rows.push({
      created: h.created,
      createdBy: h.created_by ?? '',
      size: layer ? await sizes.layer(layer) : 0,
      comment: h.comment ?? '',
      tags: [],
      emptyLayer: Boolean(h.empty_layer),
    });
  }
  // Layers without history entries (some tools write none): still show them.
  for (const l of layers)
    rows.push({ createdBy: '', size: await sizes.layer(l), comment: '', tags: [], emptyLayer: false });
  rows.reverse();
  if (rows.length) {
    const names =
      (await storedImages(store)).find((x) => x.target.digest === record.target.digest)?.names ?? [];
    rows[0].id = imageId(r);
    rows[0].tags = names.map((n) => familiarName(parseReference(n)));
  }
  return rows;
}
