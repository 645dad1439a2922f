/** Image manifests and indexes (OCI and Docker schema 2 share one shape), parsed with checks. */
import { KilnError } from '../errors/errors.ts';
import type { Descriptor } from './descriptor.ts';
import { isIndexType, isManifestType, isSchema1Type, MediaType } from './mediatypes.ts';

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ManifestOrIndex = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: Index };

/**
 * Decide what a manifest document is, from the declared media type (HTTP Content-Type or
 * descriptor) and the document's own `mediaType` field. Schema 1 is rejected with a hint.
 */
/**
 * Most layers a manifest and most entries an index may list: a 16 MiB manifest could name some
 * 100,000, each a download and a snapshot (overlayfs mounts a few hundred at most; Docker builds
 * stop at 125). Real images stay far below both.
 */
export const MAX_LAYERS = 1000;
export const MAX_INDEX_ENTRIES = 1000;

export function parseManifestDocument(
  bytes: Uint8Array | string,
  declaredMediaType?: string,
): ManifestOrIndex {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new KilnError('INVALID_MANIFEST', 'manifest is not valid JSON', { cause });
  }
  const mt = (doc.mediaType as string | undefined) ?? declaredMediaType;
  if (isSchema1Type(mt) || doc.schemaVersion === 1) {
    throw new KilnError('UNSUPPORTED_SCHEMA1', 'image uses the deprecated Docker schema 1 manifest format', {
      hint: 'push the image again with a current client (docker, skopeo, kiln) to get a schema 2 / OCI manifest',
    });
  }
  if (doc.schemaVersion !== 2)
    throw new KilnError('INVALID_MANIFEST', `unsupported schemaVersion ${String(doc.schemaVersion)}`);
  if (isIndexType(mt) || (mt === undefined && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests))
      throw new KilnError('INVALID_MANIFEST', 'index has no "manifests" array');
    if (doc.manifests.length > MAX_INDEX_ENTRIES)
      throw tooMany('index', doc.manifests.length, 'entries', MAX_INDEX_ENTRIES);
    return { kind: 'index', index: doc as unknown as Index };
  }
  if (isManifestType(mt) || (mt === undefined && doc.config !== undefined)) {
    if (typeof doc.config !== 'object' || !Array.isArray(doc.layers)) {
      throw new KilnError('INVALID_MANIFEST', 'manifest lacks "config" or "layers"');
    }
    if (doc.layers.length > MAX_LAYERS) throw tooMany('manifest', doc.layers.length, 'layers', MAX_LAYERS);
    return { kind: 'manifest', manifest: doc as unknown as Manifest };
  }
  throw new KilnError('INVALID_MANIFEST', `unknown manifest media type ${mt ?? '(none)'}`);
}

function tooMany(what: string, n: number, items: string, max: number): KilnError {
  return new KilnError('MANIFEST_TOO_LARGE', `${what} lists ${n} ${items}; kiln accepts at most ${max}`, {
    hint: 'the image is malformed or hostile; use another image',
  });
}

/** The media type a manifest is served with. */
export function manifestMediaType(m: Manifest | Index): string {
  if (m.mediaType) return m.mediaType;
  return 'manifests' in m ? MediaType.OciIndex : MediaType.OciManifest;
}

/** Canonical bytes kiln writes for a manifest or index (stable key order as given, no spaces). */
export function encodeManifest(m: Manifest | Index): Buffer {
  return Buffer.from(JSON.stringify(m));
}
