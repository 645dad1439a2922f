/**
 * `--build-context name=value` as buildx reads it: a local directory, `docker-image://ref`,
 * `oci-layout://path[:tag][@digest]`, a git URL or an http(s) URL. Directories are checked here
 * and layouts opened here (the path is the user's, its content is not trusted); the rest reach
 * the frontend as written, which makes each an image, git or http source.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Digest, parseDigest } from '../digest/digest.ts';
import { isErrno, KilnError } from '../errors/errors.ts';
import { parseGitRef } from '../frontend/dockerfile/convert/sources.ts';
import type { ImageSource } from '../image/image.ts';
import { MAX_MANIFEST_BYTES } from '../image/load.ts';
import { Annotation, type Descriptor } from '../oci/descriptor.ts';
import { parseManifestDocument } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { parseReference, repositoryName } from '../reference/reference.ts';

export const DOCKER_IMAGE_PREFIX = 'docker-image://';
export const OCI_LAYOUT_PREFIX = 'oci-layout://';

export type NamedContextSpec =
  | { kind: 'local'; dir: string }
  | { kind: 'image'; ref: string }
  | { kind: 'oci-layout'; dir: string; tag: string; digest?: Digest }
  | { kind: 'git'; url: string }
  | { kind: 'http'; url: string };

function invalid(name: string, value: string, why: string, hint: string): KilnError {
  return new KilnError('INVALID_BUILD_CONTEXT', `--build-context ${name}=${value}: ${why}`, { hint });
}

/** What a `--build-context` value names, as buildx tells them apart (remote first, else a path). */
export function classifyNamedContext(name: string, value: string): NamedContextSpec {
  if (value.startsWith(DOCKER_IMAGE_PREFIX)) {
    const ref = value.slice(DOCKER_IMAGE_PREFIX.length);
    if (ref === '')
      throw invalid(
        name,
        value,
        'no image named',
        'write docker-image://REF, e.g. docker-image://alpine:3.20',
      );
    return { kind: 'image', ref };
  }
  if (value.startsWith(OCI_LAYOUT_PREFIX)) {
    // buildx cuts at the first '@' (digest), then the first ':' (tag, default latest).
    let rest = value.slice(OCI_LAYOUT_PREFIX.length);
    let digest: Digest | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      try {
        digest = parseDigest(rest.slice(at + 1));
      } catch {
        throw invalid(name, value, 'the digest after @ is not a digest', 'write oci-layout://DIR@sha256:HEX');
      }
      rest = rest.slice(0, at);
    }
    const colon = rest.indexOf(':');
    const tag = colon >= 0 ? rest.slice(colon + 1) : 'latest';
    const dir = colon >= 0 ? rest.slice(0, colon) : rest;
    if (dir === '') throw invalid(name, value, 'no layout directory', 'write oci-layout://DIR[:TAG|@DIGEST]');
    return { kind: 'oci-layout', dir: resolve(dir), tag, digest };
  }
  if (parseGitRef(value)) return { kind: 'git', url: value };
  if (value.startsWith('http://') || value.startsWith('https://')) return { kind: 'http', url: value };
  return { kind: 'local', dir: resolve(value) };
}

/** A local named context must be an existing directory (buildx refuses anything else). */
export async function checkLocalContext(name: string, dir: string): Promise<void> {
  const st = await stat(dir).catch((err) => {
    if (isErrno(err, 'ENOENT')) {
      throw new KilnError('CONTEXT_NOT_FOUND', `build context "${name}" (${dir}) does not exist`, {
        hint: `pass an existing directory, docker-image://REF, oci-layout://DIR, or a git or https URL with --build-context ${name}=…`,
      });
    }
    throw err;
  });
  if (!st.isDirectory()) {
    throw new KilnError('CONTEXT_NOT_DIRECTORY', `build context "${name}" (${dir}) is not a directory`, {
      hint: 'a local named context is a directory; an image archive loads with kiln image load first',
    });
  }
}

/**
 * The image an `oci-layout://` context names, as an ImageSource over the layout's blobs (each
 * read is verified against its digest): by digest when given, else the index.json entry tagged
 * `tag`, else the layout's only entry, as buildx resolves it.
 */
export async function ociLayoutImage(
  name: string,
  spec: Extract<NamedContextSpec, { kind: 'oci-layout' }>,
): Promise<ImageSource> {
  const { LayoutBlobs, readLayoutIndex, entryName } = await import('../layout/layout.ts');
  const index = await readLayoutIndex(spec.dir);
  const blobs = new LayoutBlobs(spec.dir);
  const entries = index.manifests ?? [];
  let root: Descriptor | undefined;
  if (spec.digest) {
    root =
      entries.find((e) => e.digest === spec.digest) ?? (await describeBlob(blobs, spec.digest, spec.dir));
  } else {
    root =
      entries.find((e) => e.annotations?.[Annotation.RefName] === spec.tag) ??
      entries.find((e) => {
        const full = entryName(e);
        return full !== undefined && parseReference(full).tag === spec.tag;
      }) ??
      (entries.length === 1 ? entries[0] : undefined);
  }
  if (!root) {
    const has = entries.map((e) => e.annotations?.[Annotation.RefName] ?? e.digest).join(', ') || 'nothing';
    throw new KilnError(
      'IMAGE_NOT_FOUND',
      `build context "${name}": OCI layout ${spec.dir} has no image tagged "${spec.tag}"`,
      { hint: `it has: ${has}; name one with oci-layout://DIR:TAG or oci-layout://DIR@DIGEST` },
    );
  }
  const { mediaType, digest, size } = root;
  return { root: { mediaType, digest, size }, blobs };
}

/** A root given by digest alone: its size from the blob, its media type from its own JSON. */
async function describeBlob(
  blobs: import('../layout/layout.ts').LayoutBlobs,
  digest: Digest,
  dir: string,
): Promise<Descriptor> {
  const info = await blobs.info(digest);
  if (!info) {
    throw new KilnError('IMAGE_NOT_FOUND', `OCI layout ${dir} has no blob ${digest}`, {
      hint: 'check the digest (kiln image inspect, or the layout index.json)',
    });
  }
  if (info.size > MAX_MANIFEST_BYTES) {
    throw new KilnError(
      'MANIFEST_TOO_LARGE',
      `${digest} in ${dir} is ${info.size} bytes; kiln reads at most ${MAX_MANIFEST_BYTES}`,
      {
        hint: 'name a manifest or index by its digest',
      },
    );
  }
  const doc = parseManifestDocument(await blobs.readBlob(digest));
  const declared = doc.kind === 'index' ? doc.index.mediaType : doc.manifest.mediaType;
  const mediaType = declared ?? (doc.kind === 'index' ? MediaType.OciIndex : MediaType.OciManifest);
  return { mediaType, digest, size: info.size };
}

/**
 * The name an oci-layout context's image goes by in the build (BuildKit's: the context's name,
 * normalized, pinned by the digest), e.g. docker.io/library/base@sha256:….
 */
export function layoutImageRef(name: string, digest: Digest): string {
  let repo: string;
  try {
    repo = repositoryName(parseReference(name.toLowerCase()));
  } catch {
    throw new KilnError('INVALID_BUILD_CONTEXT', `--build-context name "${name}" is not a valid image name`, {
      hint: 'an oci-layout:// context needs a name made of lowercase letters, digits, -, _, . and /',
    });
  }
  return `${repo}@${digest}`;
}
