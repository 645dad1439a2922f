/**
 * What each layer of a stored image holds, as `dive` shows it: its size, its largest files, and
 * what it overwrote or deleted of the layers below (bytes shipped that the final filesystem never
 * shows: wasted). Reads each layer blob once as a stream; file bodies are skipped, not read.
 */
import { posix } from 'node:path';
import { decompressAuto } from '../archive/compress.ts';
import { readTar } from '../archive/tar/reader.ts';
import type { BlobProvider } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { ImageConfig } from '../oci/config.ts';
import { type Manifest, parseManifestDocument } from '../oci/manifest.ts';
import { formatPlatform } from '../oci/platform.ts';

/** Files listed per layer (largest first) and overwrites/deletions listed per layer. */
const LISTED = 10;
/** Paths remembered across an image's layers; past it overwrites are no longer found. */
const MAX_TRACKED = 200_000;
/** Whiteouts per layer matched against the paths below (each costs a pass over them). */
const MAX_WHITEOUTS = 2000;
/** Platforms analysed in one report. */
const MAX_PLATFORMS = 8;

export interface FileSize {
  path: string;
  size: number;
  /** For an overwritten or deleted file: the layer (index) it came from. */
  layer?: number;
}

export interface LayerView {
  digest: string;
  mediaType: string;
  /** Compressed (blob) size. */
  size: number;
  /** Bytes of file content in the layer. */
  contentBytes: number;
  entries: number;
  /** The history line that made it (`RUN make`, `COPY . /app`). */
  createdBy?: string;
  largest: FileSize[];
  overwritten: FileSize[];
  deleted: FileSize[];
  /** Bytes of lower layers this one hides (overwritten or deleted). */
  wasted: number;
}

export interface ImageView {
  platform: string;
  manifest: string;
  config: ImageConfig;
  layers: LayerView[];
  /** The blob is not in the content store (pruned, or never stored). */
  missing?: string;
}

/** The layers of every platform of an image stored under `root` (a manifest or an index). */
export async function analyseImage(content: BlobProvider, root: Digest): Promise<ImageView[]> {
  const doc = parseManifestDocument(await content.readBlob(root));
  if (doc.kind === 'manifest') return [await analyseManifest(content, root, doc.manifest)];
  const out: ImageView[] = [];
  for (const d of doc.index.manifests.slice(0, MAX_PLATFORMS)) {
    if (d.platform?.os === 'unknown') continue; // attestations
    const m = parseManifestDocument(await content.readBlob(d.digest as Digest));
    if (m.kind === 'manifest') out.push(await analyseManifest(content, d.digest as Digest, m.manifest));
  }
  return out;
}

async function analyseManifest(content: BlobProvider, digest: Digest, m: Manifest): Promise<ImageView> {
  const config = JSON.parse(
    (await content.readBlob(m.config.digest as Digest)).toString('utf8'),
  ) as ImageConfig;
  const view: ImageView = {
    platform: formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant }),
    manifest: digest,
    config,
    layers: [],
  };
  const history = (config.history ?? []).filter((h) => !h.empty_layer);
  /** Path → the layer that last wrote it and its size. */
  const below = new Map<string, { layer: number; size: number }>();
  for (const [i, l] of m.layers.entries()) {
    const lv: LayerView = {
      digest: l.digest,
      mediaType: l.mediaType,
      size: l.size,
      contentBytes: 0,
      entries: 0,
      createdBy: history[i]?.created_by,
      largest: [],
      overwritten: [],
      deleted: [],
      wasted: 0,
    };
    view.layers.push(lv);
    if (!(await content.info(l.digest as Digest))) {
      view.missing = `layer ${l.digest} is not in the content store`;
      continue;
    }
    await analyseLayer(await content.openRead(l.digest as Digest), i, lv, below);
  }
  return view;
}

async function analyseLayer(
  blob: AsyncIterable<Uint8Array>,
  index: number,
  lv: LayerView,
  below: Map<string, { layer: number; size: number }>,
): Promise<void> {
  const { stream } = await decompressAuto(blob);
  const files: FileSize[] = [];
  const overwritten: FileSize[] = [];
  const deleted: FileSize[] = [];
  const written: [string, number][] = [];
  let whiteouts = 0;
  // Everything under `dir` in the lower layers (a whiteout of a directory hides all of it).
  const hideUnder = (dir: string) => {
    if (++whiteouts > MAX_WHITEOUTS) return;
    for (const [p, f] of below)
      if (p === dir || p.startsWith(`${dir}/`)) {
        if (f.layer < index) {
          if (f.size > 0) deleted.push({ path: p, size: f.size, layer: f.layer });
          below.delete(p);
        }
      }
  };
  for await (const e of readTar(stream)) {
    lv.entries++;
    const path = e.path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    const base = posix.basename(path);
    const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
    if (base === '.wh..wh..opq') {
      // An opaque directory: its lower contents are gone, the directory itself stays.
      if (++whiteouts > MAX_WHITEOUTS) continue;
      for (const [p, f] of below)
        if (dir === '' || p.startsWith(`${dir}/`))
          if (f.layer < index) {
            if (f.size > 0) deleted.push({ path: p, size: f.size, layer: f.layer });
            below.delete(p);
          }
      continue;
    }
    if (base.startsWith('.wh.')) {
      hideUnder(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
      continue;
    }
    const size = e.type === 'file' ? e.size : 0;
    lv.contentBytes += size;
    const prev = below.get(path);
    if (prev && prev.layer < index && prev.size > 0)
      overwritten.push({ path, size: prev.size, layer: prev.layer });
    if (size > 0) files.push({ path, size });
    written.push([path, size]);
  }
  for (const [p, size] of written)
    if (below.has(p) || below.size < MAX_TRACKED) below.set(p, { layer: index, size });
  const top = (list: FileSize[]) => list.sort((a, b) => b.size - a.size).slice(0, LISTED);
  lv.wasted = [...overwritten, ...deleted].reduce((n, f) => n + f.size, 0);
  lv.largest = top(files);
  lv.overwritten = top(overwritten);
  lv.deleted = top(deleted);
}
