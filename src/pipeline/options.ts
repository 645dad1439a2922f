/**
 * What a build is asked to do, in the words of `docker buildx build`: the context, the
 * Dockerfile, build args, target, platforms, outputs, cache control, secrets and SSH; and the
 * defaults a library caller gets for what it leaves out (the CLI's).
 */
import type { AttestOptions } from '../attest/options.ts';
import type { CacheSpec } from '../cache/remote/spec.ts';
import { KilnError } from '../errors/errors.ts';
import type { OutputSpec, OutputType } from '../exporter/spec.ts';
import type { Image } from '../frontend/builder/image.ts';
import type { ExtraHost, Ulimit } from '../graph/ops.ts';
import type { Isolation } from '../isolation/mode.ts';
import type { Platform } from '../oci/platform.ts';
import type { ProgressSink } from '../progress/events.ts';

export type { OutputSpec, OutputType };

/** The frontends a build file can be read by (pipeline/frontend.ts). */
export type FrontendName = 'dockerfile' | 'yaml' | 'graph' | 'gateway';

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
  /** Most bytes a URL context or an ADD of a URL may download (default 16 GiB each). */
  maxRemoteContextBytes?: number;
  /** The Dockerfile's text when already read (stdin). */
  dockerfileText?: string;
  /**
   * `context` is a directory kiln extracted itself and writes nothing into in place while it
   * is used (kiln serve's upload): COPY may hard-link its files instead of copying them.
   */
  contextExtracted?: boolean;
  /**
   * What the build file (`dockerfile`) is: a Dockerfile, a kiln YAML description or a graph
   * definition in JSON. Default: YAML for a `.yaml`/`.yml` file, else a Dockerfile.
   */
  frontend?: FrontendName;
  /**
   * `--opt key=value`: `source` is a gateway frontend's image, `timeout` its limit in seconds
   * (default 60); all are handed to a gateway frontend.
   */
  frontendOpts?: Record<string, string>;
  /**
   * An image described with the TypeScript builder (`image('busybox').run('…')`): built instead
   * of a build file, which is then not read.
   */
  graph?: Image;
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
  /** `--isolation`: oci, rootless or chroot (isolation/mode.ts); default KILN_ISOLATION, else chosen. */
  isolation?: Isolation;
  /** Entitlements granted with `--allow` (`network.host`, `security.insecure`), as in buildx. */
  allow?: string[];
  /** Extra named contexts (`--build-context name=dir`). */
  buildContexts: Record<string, string>;
  parallelism?: number;
  /** Explain cache hits too (which earlier build made each), not only misses. */
  explain?: boolean;
  /** The id this build gets in the history (default: a random one); 1–64 hex digits or letters. */
  buildId?: string;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** SOURCE_DATE_EPOCH: clamps timestamps for reproducible images. */
  sourceDateEpoch?: number;
  // What every RUN step gets (buildx's RUN-environment flags); each is part of the RUN's
  // cache key, as in BuildKit, which keeps them in the ExecOp.
  /** `--add-host`: /etc/hosts lines; an `ip` of `host-gateway` is the host's own address. */
  extraHosts?: ExtraHost[];
  /** `--shm-size`: bytes of the /dev/shm tmpfs (default, or 0: 64 MiB). */
  shmSize?: number;
  /** `--ulimit`: resource limits (`{ name: 'nofile', soft: 1024, hard: 2048 }`; -1 = unlimited). */
  ulimits?: Ulimit[];
  /** `--cgroup-parent`: the cgroup RUN containers are made under (`<parent>/kiln/<id>`). */
  cgroupParent?: string;
  /** Squash the layers above the base image into one (`--squash`, as buildah's). */
  squash?: boolean;
  /** Attestations to attach (`--sbom`, `--provenance`, `--attest`); none when absent. */
  attest?: AttestOptions;
  /** `--cache-from`: travelling caches to import (registry, local, inline). */
  cacheFrom?: CacheSpec[];
  /** `--cache-to`: where to export this build's cache. */
  cacheTo?: CacheSpec[];
}

/** What a library caller passes: the context, and any of the rest (defaults as the CLI's). */
export type BuildRequest = (Pick<BuildOptions, 'context'> | Pick<BuildOptions, 'graph'>) &
  Partial<BuildOptions>;

/**
 * The options a build runs with: what the caller gave, and for the rest what `kiln build
 * CONTEXT` would use: the Dockerfile at CONTEXT/Dockerfile, the host's platform, no build args,
 * and the local image store as output (named by `tags`, if any). Progress is discarded.
 */
export function withDefaults(
  req: BuildRequest,
  defaultOutputs: (tags: string[]) => OutputSpec[],
): BuildOptions {
  // An image from the builder reads local() from the working directory unless told otherwise.
  if (req?.graph && req.context === undefined) req = { ...req, context: '.' };
  if (typeof req?.context !== 'string' || req.context === '') {
    throw new KilnError('INVALID_BUILD_INPUT', 'build() needs a context', {
      hint: "pass { context: '.' } (a directory) or { context: '-' } for a tar on stdin",
    });
  }
  const tags = req.tags ?? [];
  return {
    ...req,
    context: req.context,
    tags,
    buildArgs: req.buildArgs ?? {},
    labels: req.labels ?? {},
    platforms: req.platforms ?? [],
    outputs: req.outputs?.length ? req.outputs : defaultOutputs(tags),
    noCache: req.noCache ?? false,
    noCacheFilter: req.noCacheFilter ?? [],
    pull: req.pull ?? false,
    secrets: req.secrets ?? [],
    ssh: req.ssh ?? [],
    network: req.network ?? 'default',
    buildContexts: req.buildContexts ?? {},
  };
}

/**
 * `--ssh default` (or any id without paths) forwards $SSH_AUTH_SOCK; without it there is nothing
 * to forward, and buildx refuses rather than build without the agent.
 */
export function checkSsh(specs: SshSpec[], env: NodeJS.ProcessEnv = process.env): void {
  for (const s of specs) {
    if (s.paths.length === 0 && !env.SSH_AUTH_SOCK) {
      throw new KilnError(
        'SSH_AGENT_MISSING',
        `invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set (--ssh ${s.id})`,
        { hint: `start an agent (eval "$(ssh-agent)"; ssh-add) or name a socket or key: --ssh ${s.id}=PATH` },
      );
    }
  }
}
