/**
 * OCI annotations an output asks for, and which of them each written object gets, as BuildKit's
 * image exporter places them: `manifest` on each manifest (all platforms, or the one named),
 * `manifest-descriptor` on the descriptor pointing at it, `index` and `index-descriptor` on the
 * index of a multi-platform image and the descriptor pointing at that.
 */
import { KilnError } from '../errors/errors.ts';
import { normalizePlatform, type Platform } from '../oci/platform.ts';

/** Where an annotation goes (BuildKit's exptypes.Annotation* names). */
export type AnnotationType = 'manifest' | 'manifest-descriptor' | 'index' | 'index-descriptor';

export const ANNOTATION_TYPES: readonly AnnotationType[] = [
  'manifest',
  'manifest-descriptor',
  'index',
  'index-descriptor',
];

export interface Annotation {
  type: AnnotationType;
  /** Only the manifest (or its descriptor) of this platform (`manifest[linux/amd64]:k=v`). */
  platform?: Platform;
  key: string;
  value: string;
}

/** The annotations of one manifest and of the descriptor that points at it. */
export interface ManifestAnnotations {
  manifest: Record<string, string>;
  descriptor: Record<string, string>;
}

function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && (x.variant ?? '') === (y.variant ?? '');
}

/** What the manifest of `platform` and its descriptor get; later annotations win on one key. */
export function manifestAnnotations(list: readonly Annotation[], platform: Platform): ManifestAnnotations {
  const out: ManifestAnnotations = { manifest: {}, descriptor: {} };
  for (const a of list) {
    if (a.platform && !samePlatform(a.platform, platform)) continue;
    if (a.type === 'manifest') out.manifest[a.key] = a.value;
    else if (a.type === 'manifest-descriptor') out.descriptor[a.key] = a.value;
  }
  return out;
}

/** What the index and its descriptor get. */
export function indexAnnotations(list: readonly Annotation[]): ManifestAnnotations {
  const out: ManifestAnnotations = { manifest: {}, descriptor: {} };
  for (const a of list) {
    if (a.type === 'index') out.manifest[a.key] = a.value;
    else if (a.type === 'index-descriptor') out.descriptor[a.key] = a.value;
  }
  return out;
}

/** A single-platform image has no index to annotate: BuildKit refuses rather than drop them. */
export function checkSinglePlatform(list: readonly Annotation[]): void {
  const a = list.find((x) => x.type === 'index' || x.type === 'index-descriptor');
  if (a) {
    throw new KilnError(
      'INVALID_OUTPUT',
      `index annotations not supported for single platform export (${a.type} annotation ${a.key})`,
      {
        hint: 'annotate the manifest instead (--annotation manifest:KEY=VALUE), or build several platforms (--platform a,b) to get an index',
      },
    );
  }
}

/** An object's annotations field: absent when empty, as BuildKit writes it. */
export function annotationsField(a: Record<string, string>): { annotations?: Record<string, string> } {
  return Object.keys(a).length > 0 ? { annotations: a } : {};
}
