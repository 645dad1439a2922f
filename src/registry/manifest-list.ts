/**
 * `docker manifest`-style lists: create a list from images already in registries, annotate entries
 * with platforms, push it (children copied or mounted into the list's repository first, then the
 * index), and inspect remote manifests. Lists being edited live as JSON under `$root/manifests/`.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../digest/digest.ts';
import { isErrno, KilnError } from '../errors/errors.ts';
import { copyImage } from '../image/copy.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { encodeManifest, type Index, parseManifestDocument } from '../oci/manifest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { normalizePlatform, type Platform } from '../oci/platform.ts';
import { formatReference, parseReference, type Reference, referenceTarget } from '../reference/reference.ts';
import type { RegistryClient } from './client.ts';
import { RegistrySink } from './sink.ts';
import { RegistryBlobProvider } from './source.ts';
import { parseRegistryJson } from './transport.ts';

export interface ListEntry {
  /** Where the image lives, pinned: domain/path@digest. */
  source: string;
  descriptor: Descriptor;
}

export interface ManifestList {
  name: string;
  entries: ListEntry[];
}

function listFile(root: string, name: string): string {
  return join(root, 'manifests', `${encodeURIComponent(name)}.json`);
}

export function loadList(root: string, name: string): ManifestList | undefined {
  const full = formatReference(parseReference(name));
  try {
    return JSON.parse(readFileSync(listFile(root, full), 'utf8')) as ManifestList;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function saveList(root: string, list: ManifestList): void {
  const file = listFile(root, list.name);
  mkdirSync(join(root, 'manifests'), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(list, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function deleteList(root: string, name: string): void {
  rmSync(listFile(root, formatReference(parseReference(name))), { force: true });
}

/** The platform an image manifest is for, read from its config. */
async function platformOf(client: RegistryClient, ref: Reference, configDesc: Descriptor): Promise<Platform> {
  const blobs = new RegistryBlobProvider(client, ref.domain, ref.path);
  const cfg = (parseRegistryJson(await blobs.readBlob(configDesc.digest), `config ${configDesc.digest}`) ??
    {}) as Platform & Record<string, unknown>;
  const p: Platform = { os: cfg.os, architecture: cfg.architecture };
  if (cfg.variant) p.variant = cfg.variant;
  if (cfg['os.version']) p['os.version'] = cfg['os.version'];
  return p;
}

/** Create (or with `amend`, extend) a local list from images in registries. */
export async function createList(
  client: RegistryClient,
  root: string,
  name: string,
  images: string[],
  amend = false,
): Promise<ManifestList> {
  const listRef = parseReference(name);
  const full = formatReference(listRef);
  const existing = loadList(root, full);
  if (existing && !amend) {
    throw new KilnError('MANIFEST_LIST_EXISTS', `a manifest list ${full} already exists locally`, {
      hint: 'use --amend to change it, or kiln manifest rm first',
    });
  }
  const list: ManifestList = existing ?? { name: full, entries: [] };
  for (const img of images) {
    const ref = parseReference(img);
    const fetched = await client.getManifest(ref.domain, ref.path, referenceTarget(ref));
    const doc = parseManifestDocument(fetched.bytes, fetched.descriptor.mediaType);
    if (doc.kind === 'index') {
      throw new KilnError('INVALID_MANIFEST_LIST', `${img} is a manifest list, not an image`, {
        hint: 'list single-platform images (pin one with @digest)',
      });
    }
    const descriptor: Descriptor = {
      ...fetched.descriptor,
      platform: await platformOf(client, ref, doc.manifest.config),
    };
    const source = formatReference({ domain: ref.domain, path: ref.path, digest: descriptor.digest });
    list.entries = list.entries.filter((e) => e.descriptor.digest !== descriptor.digest);
    list.entries.push({ source, descriptor });
  }
  saveList(root, list);
  return list;
}

export interface Annotation {
  os?: string;
  arch?: string;
  variant?: string;
  osVersion?: string;
  osFeatures?: string[];
}

/** Set platform fields of the list entry for `image` (matched by repository and digest or tag). */
export async function annotateList(
  client: RegistryClient,
  root: string,
  name: string,
  image: string,
  a: Annotation,
): Promise<ManifestList> {
  const list = loadList(root, name);
  if (!list)
    throw new KilnError('MANIFEST_LIST_NOT_FOUND', `no local manifest list ${name}`, {
      hint: `create it with kiln manifest create ${name} IMAGE...`,
    });
  const ref = parseReference(image);
  const digest =
    ref.digest ?? (await client.getManifest(ref.domain, ref.path, referenceTarget(ref))).descriptor.digest;
  const entry = list.entries.find((e) => e.descriptor.digest === digest);
  if (!entry)
    throw new KilnError('MANIFEST_NOT_IN_LIST', `${image} (${digest}) is not in the list ${list.name}`, {
      hint: 'add it with kiln manifest create --amend',
    });
  const p: Platform = { ...(entry.descriptor.platform ?? { os: 'linux', architecture: 'amd64' }) };
  if (a.os) p.os = a.os;
  if (a.arch) p.architecture = a.arch;
  if (a.variant !== undefined) p.variant = a.variant;
  if (a.osVersion) p['os.version'] = a.osVersion;
  if (a.osFeatures) p['os.features'] = a.osFeatures;
  const n = normalizePlatform(p);
  if (!n.variant) delete p.variant;
  entry.descriptor.platform = {
    ...p,
    architecture: n.architecture,
    ...(n.variant ? { variant: n.variant } : {}),
  };
  saveList(root, list);
  return list;
}

/** The index document of a list: a Docker manifest list when all entries are Docker manifests. */
export function listIndex(list: ManifestList): { bytes: Buffer; descriptor: Descriptor } {
  const docker =
    list.entries.length > 0 && list.entries.every((e) => e.descriptor.mediaType === MediaType.DockerManifest);
  const mediaType = docker ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index: Index = {
    schemaVersion: 2,
    mediaType,
    manifests: list.entries.map((e) => {
      const { mediaType: mt, digest, size, platform, annotations } = e.descriptor;
      return {
        mediaType: mt,
        digest,
        size,
        ...(platform ? { platform } : {}),
        ...(annotations ? { annotations } : {}),
      };
    }),
  };
  const bytes = encodeManifest(index);
  return { bytes, descriptor: { mediaType, digest: sha256(bytes), size: bytes.length } };
}

/** Push a list: each image into the list's repository (mounted when on the same registry), then the index. */
export async function pushList(
  client: RegistryClient,
  root: string,
  name: string,
  purge = false,
): Promise<Descriptor> {
  const list = loadList(root, name);
  if (!list)
    throw new KilnError('MANIFEST_LIST_NOT_FOUND', `no local manifest list ${name}`, {
      hint: `create it with kiln manifest create ${name} IMAGE...`,
    });
  if (list.entries.length === 0)
    throw new KilnError('INVALID_MANIFEST_LIST', `manifest list ${list.name} is empty`);
  const target = parseReference(list.name);
  for (const e of list.entries) {
    const src = parseReference(e.source);
    const blobs = new RegistryBlobProvider(client, src.domain, src.path);
    blobs.learn(e.descriptor);
    const sink = new RegistrySink(client, target, {
      mountFrom: src.domain === target.domain ? [src.path] : [],
      reopen: (d) => blobs.openRead(d),
    });
    await copyImage({ root: e.descriptor, blobs }, sink);
  }
  const { bytes, descriptor } = listIndex(list);
  await client.putManifest(target.domain, target.path, referenceTarget(target), bytes, descriptor.mediaType);
  if (purge) deleteList(root, list.name);
  return descriptor;
}

export interface InspectResult {
  descriptor: Descriptor;
  raw: Buffer;
  /** The parsed document. */
  document: unknown;
  /** For --verbose on a list: each child with its manifest. */
  children?: { ref: string; descriptor: Descriptor; raw: Buffer; document: unknown }[];
}

/** Fetch a manifest or list from its registry (children too when `verbose`). */
export async function inspectRemote(
  client: RegistryClient,
  image: string,
  verbose = false,
): Promise<InspectResult> {
  const ref = parseReference(image);
  const fetched = await client.getManifest(ref.domain, ref.path, referenceTarget(ref));
  const document = parseRegistryJson(fetched.bytes, `manifest ${image}`);
  const result: InspectResult = { descriptor: fetched.descriptor, raw: fetched.bytes, document };
  if (verbose && isIndexType(fetched.descriptor.mediaType)) {
    result.children = [];
    for (const child of (document as Index).manifests) {
      const c = await client.getManifest(ref.domain, ref.path, child.digest);
      result.children.push({
        ref: formatReference({ domain: ref.domain, path: ref.path, digest: child.digest }),
        descriptor: child,
        raw: c.bytes,
        document: parseRegistryJson(c.bytes, `manifest ${child.digest}`),
      });
    }
  }
  return result;
}
