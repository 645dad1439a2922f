/**
 * Compressing an image's uncompressed layers before it leaves the machine. Built images live in
 * the local store with uncompressed layers, as in Docker's own store (nothing is compressed at
 * build time); `docker push` compresses them on the way out, and so does kiln's. The config (and
 * so the image ID) stays the same: only layer blobs, manifests and the index change.
 */
import { pipeline } from 'node:stream';
import { type Compression, compressStream } from '../archive/compress.ts';
import type { BlobProvider, Ingester } from '../content/content.ts';
import type { Digest } from '../digest/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest, parseManifestDocument } from '../oci/manifest.ts';
import { isLayerType, layerCompression, layerMediaType, MediaType } from '../oci/mediatypes.ts';

type Content = BlobProvider & Ingester;

/**
 * `root` with every uncompressed layer compressed (and the manifests and index that name them
 * rewritten, stored in `content`); `root` itself when no layer was uncompressed.
 */
export async function compressImage(
  content: Content,
  root: Descriptor,
  compression: Exclude<Compression, 'uncompressed'> = 'gzip',
): Promise<Descriptor> {
  // A layer shared by several platforms is compressed once.
  const done = new Map<Digest, Promise<Descriptor>>();
  const layer = (d: Descriptor, oci: boolean) => {
    let p = done.get(d.digest);
    if (!p) {
      p = compressLayer(content, d, compression, oci);
      done.set(d.digest, p);
    }
    return p;
  };
  return convertNode(content, root, layer);
}

async function convertNode(
  content: Content,
  desc: Descriptor,
  layer: (d: Descriptor, oci: boolean) => Promise<Descriptor>,
): Promise<Descriptor> {
  const doc = parseManifestDocument(await content.readBlob(desc.digest), desc.mediaType);
  if (doc.kind === 'index') {
    const children = await Promise.all(
      doc.index.manifests.map(async (c) =>
        c.mediaType && isLayerType(c.mediaType) ? c : { ...c, ...pick(await convertNode(content, c, layer)) },
      ),
    );
    if (children.every((c, i) => c.digest === doc.index.manifests[i].digest)) return desc;
    return store(content, desc, { ...doc.index, manifests: children });
  }
  const m = doc.manifest;
  const oci = (m.mediaType ?? desc.mediaType) !== MediaType.DockerManifest;
  const layers = await Promise.all(
    m.layers.map((l) =>
      isLayerType(l.mediaType) && layerCompression(l.mediaType) === 'uncompressed' ? layer(l, oci) : l,
    ),
  );
  if (layers.every((l, i) => l === m.layers[i])) return desc;
  return store(content, desc, { ...m, layers });
}

/** The fields of a converted child that its parent's descriptor takes over. */
function pick(d: Descriptor): Pick<Descriptor, 'digest' | 'size'> {
  return { digest: d.digest, size: d.size };
}

async function store(
  content: Content,
  old: Descriptor,
  doc: Parameters<typeof encodeManifest>[0],
): Promise<Descriptor> {
  const info = await content.writeBlob(encodeManifest(doc));
  return { ...old, digest: info.digest, size: info.size };
}

async function compressLayer(
  content: Content,
  d: Descriptor,
  compression: Exclude<Compression, 'uncompressed'>,
  oci: boolean,
): Promise<Descriptor> {
  const packed = pipeline(await content.openRead(d.digest), compressStream(compression), () => {});
  const info = await content.ingest(packed);
  return { ...d, mediaType: layerMediaType(compression, oci), digest: info.digest, size: info.size };
}
