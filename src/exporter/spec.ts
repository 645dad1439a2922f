/**
 * What one output of a build asks for (`-o type=…,dest=…`, `--push`, `--tag`): the exporter's
 * input, declared here so the exporter does not reach up into the build facade for it.
 */
import type { Compression } from '../oci/mediatypes.ts';

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
  compressionLevel?: number;
  ociMediaTypes: boolean;
  /** type=oci,tar=false writes a layout directory instead of a tar. */
  tar: boolean;
  /** Extra attributes kept for exporters (e.g. annotation.*). */
  attrs: Record<string, string>;
}
