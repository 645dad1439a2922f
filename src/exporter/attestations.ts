/**
 * Attestations attached to a built image as BuildKit attaches them: for each platform an
 * attestation manifest (an OCI image manifest whose layers are in-toto statements — the SPDX
 * SBOM of that platform's root filesystem, the SLSA provenance of its build), listed in the
 * image index with platform unknown/unknown and `vnd.docker.reference.*` annotations naming
 * the image manifest it is about. The statements are made by `attest/`; this writes them.
 */
import {
  ATTESTATION_MANIFEST,
  IN_TOTO_MEDIA_TYPE,
  PREDICATE_TYPE_ANNOTATION,
  REFERENCE_DIGEST_ANNOTATION,
  REFERENCE_TYPE_ANNOTATION,
  statement,
  subjectName,
  UNKNOWN_PLATFORM,
} from '../attest/intoto.ts';
import type { AttestOptions } from '../attest/options.ts';
import { type Package, scanPackages } from '../attest/packages.ts';
import { type ProvenanceInputs, provenance, SLSA_PROVENANCE_V02 } from '../attest/provenance.ts';
import { SPDX_PREDICATE, spdxDocument } from '../attest/spdx.ts';
import type { Vertex } from '../graph/vertex.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Manifest } from '../oci/manifest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import { isoSeconds } from '../sys/time.ts';
import { withStatePath } from '../worker/mounted.ts';
import type { FsState } from '../worker/state.ts';
import type { BlobWriter } from './image.ts';

/** What a build passes to have attestations made (build options → `ResultExport`). */
export interface AttestRequest {
  options: AttestOptions;
  /** The build's own facts; `mode` and `builderId` come from the options. */
  build: Omit<ProvenanceInputs, 'mode' | 'builderId'>;
  /** Each platform's graph root, keyed by `formatPlatform`. */
  roots: ReadonlyMap<string, Vertex | null>;
  /** `kiln-<version>`: the SBOM's creator and the default builder id. */
  tool: string;
}

/** One platform's image, as exportImage wrote it. */
export interface AttestedImage {
  platform: import('../oci/platform.ts').Platform;
  manifest: Descriptor;
  state: FsState;
}

export interface AttestContext {
  snapshotter: Snapshotter;
  /** The image's first name, for the statements' subjects. */
  imageName?: string;
  sourceDateEpoch?: number;
  /** Packages already scanned, by top snapshot: each output's image variant scans once. */
  scanned?: Map<string, Promise<Package[]>>;
}

/** The attestation manifests of every platform, written to `blobs`, as index entries. */
export async function writeAttestations(
  blobs: BlobWriter,
  req: AttestRequest,
  images: readonly AttestedImage[],
  ctx: AttestContext,
): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  const finishedOn = isoSeconds();
  const created = isoSeconds(ctx.sourceDateEpoch !== undefined ? ctx.sourceDateEpoch * 1000 : Date.now());
  for (const img of images) {
    const platform = formatPlatform(img.platform);
    const subject = subjectName(ctx.imageName, platform);
    const statements: { type: string; data: unknown }[] = [];
    if (req.options.sbom) {
      const key = img.state.layers.at(-1)?.snapshot ?? '';
      let scan = ctx.scanned?.get(key);
      if (!scan) {
        scan = withStatePath(ctx.snapshotter, img.state, async (dir) => scanPackages(dir));
        ctx.scanned?.set(key, scan);
      }
      const packages = await scan;
      const doc = spdxDocument({
        name: ctx.imageName ?? img.manifest.digest,
        uniqueId: img.manifest.digest.slice(img.manifest.digest.indexOf(':') + 1),
        created,
        tool: req.tool,
        packages,
      });
      statements.push({
        type: SPDX_PREDICATE,
        data: statement(SPDX_PREDICATE, subject, img.manifest.digest, doc),
      });
    }
    if (req.options.provenance) {
      const { mode, builderId } = req.options.provenance;
      const pred = provenance(
        { ...req.build, mode, builderId: builderId ?? `https://github.com/kiln/${req.tool}`, finishedOn },
        req.roots.get(platform) ?? null,
        platform,
      );
      statements.push({
        type: SLSA_PROVENANCE_V02,
        data: statement(SLSA_PROVENANCE_V02, subject, img.manifest.digest, pred),
      });
    }
    out.push(await attestationManifest(blobs, statements, img.manifest.digest));
  }
  return out;
}

/** One attestation manifest: a layer per statement, and the placeholder config BuildKit writes. */
async function attestationManifest(
  blobs: BlobWriter,
  statements: { type: string; data: unknown }[],
  subjectDigest: string,
): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  for (const s of statements) {
    const info = await blobs.writeBlob(Buffer.from(JSON.stringify(s.data)));
    layers.push({
      mediaType: IN_TOTO_MEDIA_TYPE,
      digest: info.digest,
      size: info.size,
      annotations: { [PREDICATE_TYPE_ANNOTATION]: s.type },
    });
  }
  // "Included for compatibility purposes" (BuildKit's attestation-storage.md): a valid config
  // of platform unknown/unknown whose diff_ids are the statements (they are not compressed).
  const config = await blobs.writeBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'unknown',
        os: 'unknown',
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
    layers,
  };
  const info = await blobs.writeBlob(Buffer.from(JSON.stringify(manifest)));
  return {
    mediaType: MediaType.OciManifest,
    digest: info.digest,
    size: info.size,
    annotations: {
      [REFERENCE_DIGEST_ANNOTATION]: subjectDigest,
      [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_MANIFEST,
    },
    platform: UNKNOWN_PLATFORM,
  };
}
