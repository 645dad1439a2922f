/**
 * OCI image layout directories (image-spec image-layout.md): `oci-layout`, `index.json` and
 * `blobs/<alg>/<hex>`. A layout is an ImageSource (pick an entry by name) and an ImageSink (blobs
 * written temp + rename; tagged roots added to index.json with ref.name and containerd's name).
 */
import { closeSync, lstatSync, type Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ensureInRoot } from '../confine/ensure.ts';
import { FdWalker, fdPath, type Held } from '../confine/fd.ts';
import { walkInRoot } from '../confine/resolve.ts';
import type { BlobInfo, BlobProvider } from '../content/content.ts';
import {
  type Digest,
  Digester,
  digestAlgorithm,
  digestHex,
  digestMismatch,
  hashOf,
  parseDigest,
} from '../digest/digest.ts';
import { hasCode, isErrno, KilnError } from '../errors/errors.ts';
import { copyImage } from '../image/copy.ts';
import type { ImageSink, ImageSource } from '../image/image.ts';
import { Annotation, type Descriptor } from '../oci/descriptor.ts';
import type { Index } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { normalizeReference, parseReference } from '../reference/reference.ts';
import { writeFileAtomic } from '../sys/atomic-write.ts';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

/** The path of a blob inside a layout (relative, with forward slashes). */
export function layoutBlobPath(digest: Digest): string {
  parseDigest(digest);
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/** index.json annotations for a named root: containerd's full name plus the OCI ref.name (the tag). */
export function nameAnnotations(name: string): Record<string, string> {
  const full = normalizeReference(name);
  const ref = parseReference(full);
  return { [Annotation.ContainerdImageName]: full, [Annotation.RefName]: ref.tag ?? full };
}

/**
 * The full image name an index.json entry carries, if any: io.containerd.image.name, else a
 * ref.name that is a whole reference (skopeo writes `name:tag`; a bare tag names no repository).
 */
export function entryName(desc: Descriptor): string | undefined {
  const a = desc.annotations ?? {};
  const containerd = a[Annotation.ContainerdImageName];
  if (containerd) return normalizeReference(containerd);
  const ref = a[Annotation.RefName];
  if (ref && (ref.includes(':') || ref.includes('/'))) {
    try {
      return normalizeReference(ref);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Pick the index.json entry for `name`: by full name, by ref.name as given, or the only entry
 * when `name` is undefined. Throws IMAGE_NOT_FOUND listing what the layout has.
 */
export function selectEntry(index: Index, name: string | undefined, where: string): Descriptor {
  const entries = index.manifests;
  if (name === undefined) {
    if (entries.length === 1) return entries[0];
    throw new KilnError('LAYOUT_AMBIGUOUS', `${where} holds ${entries.length} images; say which one`, {
      hint: `name one of: ${entries.map((e) => entryName(e) ?? e.annotations?.[Annotation.RefName] ?? e.digest).join(', ')}`,
    });
  }
  const byRef = entries.find((e) => e.annotations?.[Annotation.RefName] === name);
  if (byRef) return byRef;
  let full: string | undefined;
  try {
    full = normalizeReference(name);
  } catch {
    full = undefined;
  }
  const byName = full ? entries.find((e) => entryName(e) === full) : undefined;
  if (byName) return byName;
  const byDigest = entries.find((e) => e.digest === name);
  if (byDigest) return byDigest;
  throw new KilnError('IMAGE_NOT_FOUND', `${where} has no image named "${name}"`, {
    hint: `it has: ${entries.map((e) => entryName(e) ?? e.annotations?.[Annotation.RefName] ?? e.digest).join(', ') || 'nothing'}`,
  });
}

/** Blobs of a layout directory, read-only; readBlob verifies. */
export class LayoutBlobs implements BlobProvider {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  private path(digest: Digest): string {
    return join(this.dir, layoutBlobPath(digest));
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      return { digest, size: (await stat(this.path(digest))).size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async openRead(digest: Digest): Promise<Readable> {
    try {
      return (await open(this.path(digest), 'r')).createReadStream();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw missingBlob(this.dir, digest);
      throw err;
    }
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.path(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw missingBlob(this.dir, digest);
      throw err;
    }
    const actual = hashOf(digestAlgorithm(digest), data);
    if (actual !== digest) {
      throw new KilnError('BLOB_CORRUPT', `${this.path(digest)} hashes to ${actual}, not ${digest}`);
    }
    return data;
  }
}

function missingBlob(dir: string, digest: Digest): KilnError {
  return new KilnError('BLOB_NOT_FOUND', `OCI layout ${dir} lacks blob ${digest}`, {
    hint: 'the layout is incomplete; write it again',
  });
}

/** Read a layout's index.json (checking oci-layout). */
export async function readLayoutIndex(dir: string): Promise<Index> {
  let layout: string;
  try {
    layout = await readFile(join(dir, OCI_LAYOUT_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new KilnError('NOT_OCI_LAYOUT', `${dir} is not an OCI image layout (no oci-layout file)`, {
        hint: 'point at a directory written by kiln, skopeo (oci:DIR) or buildx (type=oci,tar=false)',
      });
    }
    throw err;
  }
  const version = (JSON.parse(layout) as { imageLayoutVersion?: string }).imageLayoutVersion;
  if (version !== '1.0.0') {
    throw new KilnError('NOT_OCI_LAYOUT', `${dir}: unsupported imageLayoutVersion ${String(version)}`);
  }
  try {
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
    if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
    return index;
  } catch (cause) {
    throw new KilnError('NOT_OCI_LAYOUT', `${dir}/index.json is missing or invalid`, { cause });
  }
}

/** An image of a layout directory as a copy source (`name` picks an index.json entry). */
export async function layoutSource(dir: string, name?: string): Promise<ImageSource> {
  const index = await readLayoutIndex(dir);
  const entry = selectEntry(index, name, `OCI layout ${dir}`);
  const root: Descriptor = { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  if (entry.platform) root.platform = entry.platform;
  return { root, blobs: new LayoutBlobs(dir) };
}

/** A name inside a layout the sink will not write through or read: left there by someone else. */
function unsafe(dir: string, rel: string, cause?: unknown): KilnError {
  return new KilnError(
    'LAYOUT_UNSAFE',
    `OCI layout ${dir}: ${rel} is a symlink or not what a layout holds there`,
    {
      hint: `remove ${join(dir, rel)}, or write the layout to a new directory; kiln never writes through a symlink in a layout`,
      cause,
    },
  );
}

/**
 * An OCI layout directory as a copy destination (created if needed). The directory is the user's;
 * what is inside it may not be: every name written comes from a digest, a symlink (or anything
 * else out of place) at `blobs`, `blobs/<alg>`, `oci-layout` or `index.json` is refused, and
 * every file is written to a temp name and renamed, so a symlink at a blob's name is replaced.
 */
export class OciLayoutSink implements ImageSink {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** lstat of a layout file; LAYOUT_UNSAFE when something other than a regular file is there. */
  private async layoutFile(name: string): Promise<Stats | undefined> {
    const st = await lstat(join(this.dir, name)).catch((err) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (st && !st.isFile()) throw unsafe(this.dir, name);
    return st;
  }

  private async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (!(await this.layoutFile(OCI_LAYOUT_FILE))) {
      await writeFileAtomic(join(this.dir, OCI_LAYOUT_FILE), OCI_LAYOUT_CONTENT);
    }
    if (!(await this.layoutFile('index.json'))) {
      await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(emptyIndex()));
    }
  }

  /**
   * The directory blobs of `digest`'s algorithm go in, held by descriptor (made when `create`;
   * undefined when absent). A symlink on the way is refused, never followed.
   */
  private blobDir(digest: Digest, create: boolean, retries = 2): Held | undefined {
    const rel = `blobs/${digestAlgorithm(parseDigest(digest))}`;
    if (!create && !lstatSync(this.dir, { throwIfNoEntry: false })) return undefined;
    const w = walkInRoot(new FdWalker(this.dir), rel, { refuseLinks: true, followFinal: false });
    closeSync(w.handle);
    if (w.kind !== 'dir') throw unsafe(this.dir, w.comps.join('/'));
    if (w.missing.length > 0 && !create) return undefined;
    try {
      return ensureInRoot(this.dir, rel, 'dir').held;
    } catch (err) {
      // Another writer of the same layout (two builds exporting their cache to one directory)
      // made a directory between the walk and the mkdir: walk again, links still refused (once
      // for each of blobs/ and blobs/<alg>).
      const raced = hasCode(err, 'PATH_NOT_DIRECTORY') && isErrno((err as Error).cause, 'EEXIST');
      if (raced && retries > 0) return this.blobDir(digest, create, retries - 1);
      throw err;
    }
  }

  /** Run `work` on the blob directory, turning a symlink met on the way into LAYOUT_UNSAFE. */
  private async inBlobDir<T>(digest: Digest, create: boolean, work: (dir: Held | undefined) => Promise<T>) {
    let dir: Held | undefined;
    try {
      dir = this.blobDir(digest, create);
    } catch (err) {
      if (hasCode(err, 'PATH_HAS_SYMLINK') || hasCode(err, 'PATH_NOT_DIRECTORY'))
        throw unsafe(this.dir, 'blobs', err);
      throw err;
    }
    try {
      return await work(dir);
    } finally {
      dir?.close();
    }
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.inBlobDir(desc.digest, false, async (dir) => {
      if (!dir) return false;
      const st = lstatSync(fdPath(dir.fd, digestHex(desc.digest)), { throwIfNoEntry: false });
      return st?.isFile() === true && st.size === desc.size;
    });
  }

  async putBlob(desc: Descriptor, data: Readable | AsyncIterable<Uint8Array>): Promise<void> {
    await this.init();
    await this.inBlobDir(desc.digest, true, async (dir) => {
      // Through the held directory: the name is the digest's hex, its temp beside it.
      await writeFileAtomic(fdPath((dir as Held).fd, digestHex(desc.digest)), verified(desc, data), {
        mode: 0o644,
      });
    });
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    await this.putBlob(desc, Readable.from([bytes]));
    if (tag !== undefined) await this.addToIndex(desc, tag);
  }

  /**
   * Add (or re-point) an index.json entry for `name`; without a name, an entry without one
   * (once per digest), so that a tool can still find the image.
   */
  async addToIndex(desc: Descriptor, name?: string): Promise<void> {
    await this.init();
    const index = await readLayoutIndex(this.dir);
    if (name === undefined) {
      const named = (m: Descriptor) => m.annotations?.[Annotation.RefName] !== undefined;
      if (index.manifests.some((m) => m.digest === desc.digest && !named(m))) return;
      const { mediaType, digest, size, annotations } = desc;
      index.manifests.push({ mediaType, digest, size, ...(annotations ? { annotations } : {}) });
    } else {
      const annotations = nameAnnotations(name);
      const full = annotations[Annotation.ContainerdImageName];
      index.manifests = index.manifests.filter((e) => entryName(e) !== full);
      const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
      if (desc.platform) entry.platform = desc.platform;
      // The descriptor's own annotations (an output's manifest-descriptor ones) stay, as in BuildKit.
      entry.annotations = { ...desc.annotations, ...annotations };
      index.manifests.push(entry);
    }
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index));
  }
}

/**
 * Write images into the layout directory `dir`, the one way kiln writes a layout (`-o
 * type=oci,tar=false`, `kiln image save --format oci-dir`): every blob once, verified, and one
 * index.json entry per name; an image without a name gets an entry without one, or the layout
 * would hold blobs no tool can find.
 */
export async function writeLayout(
  dir: string,
  blobs: BlobProvider,
  images: readonly { root: Descriptor; name?: string }[],
): Promise<void> {
  const sink = new OciLayoutSink(dir);
  const copied = new Set<string>();
  for (const { root, name } of images) {
    if (copied.has(root.digest)) {
      await sink.addToIndex(root, name);
      continue;
    }
    // Named, the copy adds the entry as it writes the root.
    await copyImage({ root, blobs }, sink, { tag: name });
    copied.add(root.digest);
    if (name === undefined) await sink.addToIndex(root);
  }
}

/** `data`, failing (before the temp is renamed into place) when it is not `desc`'s bytes. */
async function* verified(
  desc: Descriptor,
  data: Readable | AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const digester = new Digester(digestAlgorithm(desc.digest));
  for await (const chunk of data) {
    digester.update(chunk);
    yield chunk;
  }
  const actual = digester.digest();
  if (actual !== desc.digest || digester.size !== desc.size) {
    throw digestMismatch(`blob ${desc.digest}`, desc.digest, actual, {
      detail: `${digester.size} bytes, descriptor says ${desc.size}`,
    });
  }
}

export function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}
