/**
 * Image archives as `docker save` (25+) and `buildx --output type=oci` write them: one tar that is
 * an OCI image layout (oci-layout, index.json, blobs/sha256/…) and, in docker format, also carries
 * manifest.json (Config/RepoTags/Layers) and repositories for `docker load` and skopeo
 * `docker-archive:`. Layers are stored as they are (docker load and skopeo accept gzip layers).
 */
import type { Readable } from 'node:stream';
import { TarWriter } from '../archive/tar/writer.ts';
import type { BlobProvider } from '../content/content.ts';
import { type Digest, digestHex, verifying } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { loadIndex, loadManifest, resolvePlatformManifest } from '../image/load.ts';
import { layoutBlobPath, nameAnnotations, OCI_LAYOUT_CONTENT } from '../layout/layout.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Index } from '../oci/manifest.ts';
import { isIndexType, isManifestType, MediaType } from '../oci/mediatypes.ts';
import { hostPlatform, type Platform } from '../oci/platform.ts';
import { familiarName, parseReference } from '../reference/reference.ts';

export type ArchiveFormat = 'docker' | 'oci';

export interface SaveImage {
  /** Image name (any docker reference spelling); omitted = saved without a name. */
  name?: string;
  root: Descriptor;
}

export interface SaveOptions {
  format?: ArchiveFormat;
  /** Docker format: which manifest of a multi-platform image to save (default: this host's). */
  platform?: Platform;
}

/** docker's manifest.json entry. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

function rootOnly(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  return out;
}

class ArchiveBuilder {
  readonly tar = new TarWriter();
  private readonly blobs: BlobProvider;
  private readonly written = new Set<Digest>();

  constructor(blobs: BlobProvider) {
    this.blobs = blobs;
  }

  async start(): Promise<void> {
    await this.tar.add({ path: 'blobs/', type: 'directory' });
    await this.tar.add({ path: 'blobs/sha256/', type: 'directory' });
  }

  /** Add one blob (verified as it streams), once. */
  async blob(desc: Descriptor): Promise<void> {
    if (this.written.has(desc.digest)) return;
    this.written.add(desc.digest);
    const verified = verifying(await this.blobs.openRead(desc.digest), desc);
    await this.tar.add({ path: layoutBlobPath(desc.digest), type: 'file', size: desc.size }, verified);
  }

  async file(path: string, data: string): Promise<void> {
    await this.tar.add({ path, type: 'file' }, Buffer.from(data));
  }

  /** A manifest or index and everything under it that is present (absent index entries are skipped). */
  async closure(desc: Descriptor, depth = 0): Promise<void> {
    if (isIndexType(desc.mediaType)) {
      const index = await loadIndex(this.blobs, desc);
      let present = 0;
      for (const child of index.manifests) {
        if (!(await this.blobs.info(child.digest))) continue;
        present++;
        await this.closure(child, depth + 1);
      }
      if (!present)
        throw new KilnError('IMAGE_INCOMPLETE', `index ${desc.digest} has none of its manifests stored`);
    } else if (isManifestType(desc.mediaType)) {
      const m = await loadManifest(this.blobs, desc);
      for (const b of [m.config, ...m.layers]) await this.blob(b);
    }
    await this.blob(desc);
  }
}

/** The manifest of `root` to save in docker format: the root itself, or one platform's entry. */
async function dockerManifestOf(
  blobs: BlobProvider,
  root: Descriptor,
  platform?: Platform,
): Promise<Descriptor> {
  if (!isIndexType(root.mediaType)) return root;
  try {
    return (await resolvePlatformManifest({ root, blobs }, platform ?? hostPlatform())).descriptor;
  } catch (err) {
    if (platform) throw err;
    // No manifest for this host: fall back to the first one that is stored, as docker does.
    for (const c of (await loadIndex(blobs, root)).manifests) {
      if (isManifestType(c.mediaType) && (await blobs.info(c.digest))) return c;
    }
    throw err;
  }
}

/**
 * Stream an archive of `images`. Errors (a missing blob, a digest mismatch) destroy the stream,
 * so write it to a temp file and rename on success.
 */
export function writeArchive(blobs: BlobProvider, images: SaveImage[], opts: SaveOptions = {}): Readable {
  const b = new ArchiveBuilder(blobs);
  const format = opts.format ?? 'docker';
  const run = async () => {
    await b.start();
    const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const dockerEntries = new Map<Digest, DockerManifestEntry>();
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      const target = format === 'docker' ? await dockerManifestOf(blobs, img.root, opts.platform) : img.root;
      await b.closure(target);
      const entry = rootOnly(target);
      if (img.name) entry.annotations = nameAnnotations(img.name);
      index.manifests.push(entry);
      if (format !== 'docker') continue;
      const m = await loadManifest(blobs, target);
      let de = dockerEntries.get(target.digest);
      if (!de) {
        de = {
          Config: layoutBlobPath(m.config.digest),
          RepoTags: null,
          Layers: m.layers.map((l) => layoutBlobPath(l.digest)),
        };
        dockerEntries.set(target.digest, de);
      }
      if (img.name) {
        const ref = parseReference(img.name);
        de.RepoTags = [...(de.RepoTags ?? []), familiarName({ ...ref, digest: undefined })];
        const repo = familiarName({ domain: ref.domain, path: ref.path });
        const top = m.layers.at(-1);
        if (top && ref.tag)
          repositories[repo] = { ...(repositories[repo] ?? {}), [ref.tag]: digestHex(top.digest) };
      }
    }
    await b.file('index.json', JSON.stringify(index));
    if (format === 'docker') {
      await b.file('manifest.json', JSON.stringify([...dockerEntries.values()]));
      await b.file('repositories', JSON.stringify(repositories));
    }
    await b.file('oci-layout', OCI_LAYOUT_CONTENT);
    await b.tar.finish();
  };
  run().catch((err) => b.tar.destroy(err));
  return b.tar;
}
