/**
 * What a build is asked to do, in the words of `docker buildx build`: the context, the
 * Dockerfile, build args, target, platforms, outputs, cache control, secrets and SSH.
 */
import type { OutputSpec, OutputType } from '../exporter/spec.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';

export type { OutputSpec, OutputType };

export interface SecretSpec {
  id: string;
  /** A file to read, or an environment variable name. */
  src?: string;
  env?: string;
}

export interface SshSpec {
  id: string;
  /** Agent sockets or key files; empty means $SSH_AUTH_SOCK. */
  paths: string[];
}

export interface BuildOptions {
  /** Directory of the build context, or '-' for a tar on stdin. */
  context: string;
  /** Path to the Dockerfile ('-' = stdin); default <context>/Dockerfile. */
  dockerfile?: string;
  /** The Dockerfile's text when already read (stdin). */
  dockerfileText?: string;
  tags: string[];
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  target?: string;
  platforms: Platform[];
  outputs: OutputSpec[];
  noCache: boolean;
  noCacheFilter: string[];
  pull: boolean;
  secrets: SecretSpec[];
  ssh: SshSpec[];
  network: 'default' | 'none' | 'host';
  /** Entitlements granted with `--allow` (`network.host`, `security.insecure`), as in buildx. */
  allow?: string[];
  /** Extra named contexts (`--build-context name=dir`). */
  buildContexts: Record<string, string>;
  parallelism?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** SOURCE_DATE_EPOCH: clamps timestamps for reproducible images. */
  sourceDateEpoch?: number;
}
