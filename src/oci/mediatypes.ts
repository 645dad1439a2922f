/** Media types of the OCI image spec and Docker's schema 2, and predicates over them. */

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

export type Compression = 'uncompressed' | 'gzip' | 'zstd';

export function isIndexType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifestType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

export function isSchema1Type(mt: string | undefined): boolean {
  return mt === MediaType.DockerSchema1Manifest || mt === MediaType.DockerSchema1SignedManifest;
}

export function isLayerType(mt: string): boolean {
  return mt.includes('.layer.') || mt.includes('.rootfs.');
}

/** The compression a layer media type declares. */
export function layerCompression(mt: string): Compression {
  if (mt.endsWith('+zstd')) return 'zstd';
  if (mt.endsWith('gzip')) return 'gzip';
  return 'uncompressed';
}

/** The layer media type for a compression, in OCI or Docker flavour (Docker has only gzip). */
export function layerMediaType(compression: Compression, oci: boolean): string {
  if (!oci && compression === 'gzip') return MediaType.DockerLayerGzip;
  switch (compression) {
    case 'gzip':
      return MediaType.OciLayerGzip;
    case 'zstd':
      return MediaType.OciLayerZstd;
    default:
      return MediaType.OciLayer;
  }
}
