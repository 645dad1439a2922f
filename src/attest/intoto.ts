/**
 * in-toto statements and the names BuildKit's attestation storage uses: each statement is one
 * layer (media type application/vnd.in-toto+json, its predicate type in an annotation) of an
 * attestation manifest, which the image index lists with platform unknown/unknown and the
 * digest of the image manifest it is about.
 */
import type { Platform } from '../oci/platform.ts';

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v0.1';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';
export const ATTESTATION_MANIFEST = 'attestation-manifest';
export const UNKNOWN_PLATFORM: Platform = { architecture: 'unknown', os: 'unknown' };

export interface Statement {
  _type: string;
  predicateType: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicate: unknown;
}

/** `pkg:docker/<name>@<tag>?platform=<os/arch>` as BuildKit names an image subject. */
export function subjectName(imageName: string | undefined, platform: string): string {
  const q = `?platform=${encodeURIComponent(platform)}`;
  if (!imageName) return `pkg:docker/image${q}`;
  const slash = imageName.lastIndexOf('/');
  const colon = imageName.lastIndexOf(':');
  const [repo, tag] =
    colon > slash ? [imageName.slice(0, colon), imageName.slice(colon + 1)] : [imageName, 'latest'];
  return `pkg:docker/${repo}@${tag}${q}`;
}

export function statement(
  predicateType: string,
  subject: string,
  digest: string,
  predicate: unknown,
): Statement {
  const [algo, hex] = digest.split(':');
  return {
    _type: STATEMENT_TYPE,
    predicateType,
    subject: [{ name: subject, digest: { [algo]: hex } }],
    predicate,
  };
}
