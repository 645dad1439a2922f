/**
 * What one output of a build asks for (`-o type=…,dest=…`, `--push`, `--tag`): the exporter's
 * input, declared here so the exporter does not reach up into the build facade for it.
 */
import type { Compression } from '../oci/mediatypes.ts';
import type { Annotation } from './annotations.ts';

export type OutputType = 'image' | 'registry' | 'oci' | 'docker' | 'local' | 'tar';

export interface OutputSpec {
  type: OutputType;
  /** Image names (type=image|registry|docker|oci). */
  names: string[];
  /** File or directory (type=oci|docker|tar|local); '-' means stdout for archives. */
  dest?: string;
  push: boolean;
  /**
   * Layer compression; unset means the default for the output: none for the local image store
   * (as Docker's store keeps layers; `kiln push` compresses them), gzip for everything else.
   */
  compression?: Compression;
  ociMediaTypes: boolean;
  /** type=oci,tar=false writes a layout directory instead of a tar. */
  tar: boolean;
  /** Annotations for the manifests, the index and their descriptors (`annotation*.KEY=V`). */
  annotations: Annotation[];
  /** `--load`: into a Docker Engine when one answers, else the local image store (type=image). */
  load?: boolean;
}

/** Whether an output writes an image (type=local and type=tar write a filesystem only). */
export function needsImage(spec: OutputSpec): boolean {
  return spec.type !== 'local' && spec.type !== 'tar';
}

/** The layer compression an output gets: its own setting, else the default for its type. */
export function outputCompression(spec: OutputSpec): Compression {
  return spec.compression ?? (spec.type === 'image' && !spec.push ? 'uncompressed' : 'gzip');
}
