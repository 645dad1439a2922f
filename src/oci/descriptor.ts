/** The OCI content descriptor: what a manifest, index or layout says about a blob it points to. */
import type { Digest } from '../digest/digest.ts';
import type { Platform } from './platform.ts';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** Well-known annotation keys. */
export const Annotation = {
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  BaseName: 'org.opencontainers.image.base.name',
  BaseDigest: 'org.opencontainers.image.base.digest',
  /** containerd's full image name on an index entry of an OCI layout. */
  ContainerdImageName: 'io.containerd.image.name',
} as const;
