/**
 * Load image archives: `docker save` output (legacy `<id>/layer.tar` layout or docker 25+'s OCI
 * layout with manifest.json), OCI image layout tars (buildx, skopeo `oci-archive:`) and
 * skopeo `docker-archive:`, plain or compressed. One pass: every member is ingested into the
 * content store (verified against its name when it is a blob), then the metadata files decide.
 */
import { posix } from 'node:path';
import { decompressAuto, detectCompression } from '../archive/compress.ts';
import { readTar } from '../archive/tar/reader.ts';
import type { BlobHolder, BlobInfo, BlobProvider, Ingester } from '../content/content.ts';
import { type Digest, isDigest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import type { ImageStore } from '../image/image.ts';
import { loadIndex, loadManifest } from '../image/load.ts';
import { entryName } from '../layout/layout.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Index, Manifest } from '../oci/manifest.ts';
import { isIndexType, isManifestType, MediaType } from '../oci/mediatypes.ts';
import { normalizeReference } from '../reference/reference.ts';
import type { DockerManifestEntry } from './save.ts';

export interface LoadedImage {
  /** Normalized names given to the image (empty when the archive names none). */
  names: string[];
  root: Descriptor;
}

export interface LoadResult {
  format: 'docker' | 'oci';
  images: LoadedImage[];
}

export interface LoadOptions {
  /** Name for an archive's only image when the archive itself names none. */
  tag?: string;
}

const META_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);
const META_LIMIT = 16 << 20;
/** moby's media type for zstd layers in docker manifests. */
export const DockerLayerZstd = 'application/vnd.docker.image.rootfs.diff.tar.zstd';

function incomplete(what: string): KilnError {
  return new KilnError('ARCHIVE_INCOMPLETE', `the archive lacks ${what}`, {
    hint: 'the archive is truncated or was written by a tool that left content out; save it again',
  });
}

/** Member paths as written by tar tools: `./x`, `x/`, `a//b` → `x`, `a/b`; `..` is refused. */
function cleanPath(p: string): string | undefined {
  const n = posix.normalize(`/${p}`).slice(1).replace(/\/$/, '');
  if (!n || n.split('/').includes('..')) return undefined;
  return n;
}

interface Members {
  files: Map<string, BlobInfo>;
  links: Map<string, string>;
  meta: Map<string, Buffer>;
}

async function readMembers(source: AsyncIterable<Uint8Array>, content: Ingester): Promise<Members> {
  const files = new Map<string, BlobInfo>();
  const links = new Map<string, string>();
  const meta = new Map<string, Buffer>();
  const { stream } = await decompressAuto(source);
  for await (const entry of readTar(stream)) {
    const path = cleanPath(entry.path);
    if (!path) continue;
    if (entry.type === 'symlink') {
      const target = entry.linkname.startsWith('/')
        ? entry.linkname
        : posix.join(posix.dirname(path), entry.linkname);
      const clean = cleanPath(target);
      if (clean) links.set(path, clean);
    } else if (entry.type === 'hardlink') {
      const clean = cleanPath(entry.linkname);
      if (clean) links.set(path, clean);
    } else if (entry.type === 'file') {
      if (META_FILES.has(path)) {
        if (entry.size > META_LIMIT)
          throw new KilnError('ARCHIVE_INVALID', `${path} in the archive is too large (${entry.size} bytes)`);
        meta.set(path, await entry.buffer());
        continue;
      }
      const base = posix.basename(path);
      if (base === 'json' || base === 'VERSION') continue; // legacy v1 layer metadata: not needed
      const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(path);
      const named = m ? `${m[1]}:${m[2]}` : undefined;
      const expected =
        named && isDigest(named) ? { digest: named as Digest, size: entry.size } : { size: entry.size };
      files.set(path, await content.ingest(entry.stream(), expected));
    }
  }
  return { files, links, meta };
}

function resolveMember(m: Members, path: string): BlobInfo | undefined {
  let p = cleanPath(path);
  for (let hops = 0; p && hops < 16; hops++) {
    const f = m.files.get(p);
    if (f) return f;
    p = m.links.get(p);
  }
  return undefined;
}

function parseJson<T>(m: Members, name: string): T | undefined {
  const b = m.meta.get(name);
  if (!b) return undefined;
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch (cause) {
    throw new KilnError('ARCHIVE_INVALID', `${name} in the archive is not valid JSON`, { cause });
  }
}

/**
 * The layer media type of a synthesized manifest. containers/image (skopeo) writes the docker
 * gzip type for every docker-archive layer, compressed or not, and consumers sniff the bytes;
 * we do the same so the manifest digest matches `skopeo inspect docker-archive:`. zstd keeps its
 * own type because nothing decompresses it as gzip.
 */
async function layerMediaTypeOf(blobs: BlobProvider, digest: Digest): Promise<string> {
  const r = await blobs.openRead(digest);
  let head = Buffer.alloc(0);
  for await (const chunk of r) {
    head = Buffer.concat([head, chunk as Buffer]);
    if (head.length >= 4) break;
  }
  r.destroy();
  return detectCompression(head) === 'zstd' ? DockerLayerZstd : MediaType.DockerLayerGzip;
}

/** The store a load writes to and holds what it finds in (lease it: see Store.withLease). */
type LoadContent = Ingester & BlobProvider & BlobHolder;

/**
 * True when the blob is stored. It is held from now on: an image may use blobs the store had
 * before the load (the archive left them out), and a concurrent prune must not take them before
 * the image is named.
 */
async function present(content: LoadContent, digest: Digest): Promise<boolean> {
  return (await content.hold([digest])).length === 0;
}

/** Check that a manifest or index has its content in `blobs` (index entries may be absent, not all). */
async function checkClosure(content: LoadContent, desc: Descriptor): Promise<void> {
  if (!(await present(content, desc.digest))) throw incomplete(`${desc.mediaType} ${desc.digest}`);
  if (isIndexType(desc.mediaType)) {
    const index = await loadIndex(content, desc);
    let found = 0;
    for (const c of index.manifests) {
      if (!(await present(content, c.digest))) continue;
      found++;
      await checkClosure(content, c);
    }
    if (!found && index.manifests.length) throw incomplete(`every manifest of index ${desc.digest}`);
  } else if (isManifestType(desc.mediaType)) {
    const m = await loadManifest(content, desc);
    for (const b of [m.config, ...m.layers]) {
      if (!b.urls?.length && !(await present(content, b.digest)))
        throw incomplete(`blob ${b.digest} of manifest ${desc.digest}`);
    }
  }
}

async function dockerImages(m: Members, content: LoadContent): Promise<LoadedImage[]> {
  const entries = parseJson<DockerManifestEntry[]>(m, 'manifest.json');
  if (!Array.isArray(entries))
    throw new KilnError('ARCHIVE_INVALID', 'manifest.json in the archive is not a list');
  const ociIndex = parseJson<Index>(m, 'index.json');
  // docker 25+ archives carry the real manifests; use them so digests survive the round trip.
  const stored: { desc: Descriptor; manifest: Manifest }[] = [];
  for (const d of ociIndex?.manifests ?? []) {
    if (isManifestType(d.mediaType) && (await present(content, d.digest))) {
      stored.push({ desc: d, manifest: await loadManifest(content, d) });
    }
  }
  const out: LoadedImage[] = [];
  for (const e of entries) {
    const config = resolveMember(m, e.Config);
    if (!config) throw incomplete(`the config ${e.Config}`);
    const layers = e.Layers.map((p) => {
      const l = resolveMember(m, p);
      if (!l) throw incomplete(`the layer ${p}`);
      return l;
    });
    const match = stored.find(
      (s) =>
        s.manifest.config.digest === config.digest &&
        s.manifest.layers.length === layers.length &&
        s.manifest.layers.every((l, i) => l.digest === layers[i].digest),
    );
    let root: Descriptor;
    if (match) {
      root = { mediaType: match.desc.mediaType, digest: match.desc.digest, size: match.desc.size };
    } else {
      // Field order as containers/image writes schema2 descriptors: mediaType, size, digest.
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, size: config.size, digest: config.digest },
        layers: await Promise.all(
          layers.map(async (l) => ({
            mediaType: await layerMediaTypeOf(content, l.digest),
            size: l.size,
            digest: l.digest,
          })),
        ),
      };
      const info = await content.writeBlob(Buffer.from(JSON.stringify(manifest)));
      root = { mediaType: MediaType.DockerManifest, digest: info.digest, size: info.size };
    }
    out.push({ names: (e.RepoTags ?? []).map((t) => normalizeReference(t)), root });
  }
  return out;
}

async function ociImages(m: Members, content: LoadContent): Promise<LoadedImage[]> {
  const index = parseJson<Index>(m, 'index.json');
  if (!index || !Array.isArray(index.manifests))
    throw new KilnError('ARCHIVE_INVALID', 'index.json in the archive has no manifests');
  const byDigest = new Map<Digest, LoadedImage>();
  for (const d of index.manifests) {
    await checkClosure(content, d);
    const root: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.platform) root.platform = d.platform;
    const img = byDigest.get(d.digest) ?? { names: [], root };
    const name = entryName(d);
    if (name && !img.names.includes(name)) img.names.push(name);
    byDigest.set(d.digest, img);
  }
  return [...byDigest.values()];
}

/**
 * Load an archive: blobs go into `content` (lease it: see Store.withLease) and named images into
 * `images`. Returns what was loaded, with names.
 */
export async function loadArchive(
  source: AsyncIterable<Uint8Array>,
  content: LoadContent,
  images: ImageStore | undefined,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const m = await readMembers(source, content);
  let format: LoadResult['format'];
  let loaded: LoadedImage[];
  if (m.meta.has('manifest.json')) {
    format = 'docker';
    loaded = await dockerImages(m, content);
  } else if (m.meta.has('index.json')) {
    format = 'oci';
    loaded = await ociImages(m, content);
  } else {
    throw new KilnError(
      'NOT_AN_IMAGE_ARCHIVE',
      'the file is neither a docker archive (manifest.json) nor an OCI layout (index.json)',
      {
        hint: 'load archives written by `docker save`, `kiln image save`, skopeo or `buildx --output type=oci|docker`; for a root filesystem tarball use `kiln image import`',
      },
    );
  }
  if (opts.tag) {
    const unnamed = loaded.filter((l) => !l.names.length);
    if (loaded.length === 1) loaded[0].names.push(normalizeReference(opts.tag));
    else if (unnamed.length === 1) unnamed[0].names.push(normalizeReference(opts.tag));
    else
      throw new KilnError(
        'LOAD_TAG_AMBIGUOUS',
        `the archive holds ${loaded.length} images; --tag names only one`,
      );
  }
  if (images) for (const l of loaded) for (const n of l.names) await images.put(n, l.root);
  return { format, images: loaded };
}
