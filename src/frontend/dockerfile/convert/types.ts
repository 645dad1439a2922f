/**
 * The converter's contract: what it needs (options, an image-config resolver the engine
 * implements) and what it returns (a graph definition, the target's image config, warnings).
 */
import type { KilnError, SourceLocation } from '../../../errors/errors.ts';
import type { Definition, ExtraHost, Ulimit, Vertex } from '../../../graph/index.ts';
import type { ImageConfig } from '../../../oci/config.ts';
import type { Platform } from '../../../oci/platform.ts';
import type { Instruction } from '../instructions/types.ts';

/** Resolves a base image's config. The engine implements it; tests pass an in-memory one. */
export interface ImageConfigResolver {
  /**
   * `ref` is normalized (`docker.io/library/alpine:3`). Return the normalized reference, pinned
   * with `@sha256:…` when the digest is known, and the config for `platform`.
   */
  resolveImageConfig(ref: string, platform: Platform): Promise<{ ref: string; config: ImageConfig }>;
}

export interface ConvertOptions {
  /** Name of the Dockerfile, used in locations (default `Dockerfile`). */
  file?: string;
  buildArgs?: Record<string, string>;
  /** Stage to build; default the last one. */
  target?: string;
  /** The platform built for (TARGETPLATFORM). */
  platform: Platform;
  /** The platform the build runs on (BUILDPLATFORM). */
  buildPlatform: Platform;
  /** Labels added to the result image (`--label`). */
  labels?: Record<string, string>;
  resolver: ImageConfigResolver;
  /** Name of the local source holding the build context (default `context`). */
  contextName?: string;
  /** .dockerignore patterns, applied to the context source. */
  dockerignore?: string[];
  /** Prefix vertex descriptions with the platform (multi-platform builds). */
  multiPlatform?: boolean;
  /**
   * Named contexts (`--build-context name=value`): a stage, a `FROM name` or a `COPY --from=name`
   * with that name uses it instead. `docker-image://ref` is an image; any other value is a local
   * directory, read through a local source named `name` (the engine maps it to the directory).
   */
  namedContexts?: Record<string, string>;
  /** Stage names whose steps ignore the cache (`--no-cache-filter`); `true` = all stages. */
  noCache?: boolean | string[];
  /** What every RUN gets from the build's flags. */
  run?: RunSettings;
  /**
   * Dispatch every stage, not only those the target reaches (and resolve their bases): what
   * `--check` without `--target` evaluates, as BuildKit's lint does.
   */
  allStages?: boolean;
}

/**
 * `--add-host`, `--shm-size`, `--ulimit` and `--cgroup-parent`, validated (hosts hold IPs, not
 * `host-gateway`). They go into every RUN's exec op, as dockerfile2llb puts them into BuildKit's.
 */
export interface RunSettings {
  extraHosts?: ExtraHost[];
  /** Bytes of the /dev/shm tmpfs; 0 or absent keeps the default (64 MiB). */
  shmSize?: number;
  ulimits?: Ulimit[];
  cgroupParent?: string;
}

export interface ConvertWarning {
  /** Stable rule name, e.g. `UnusedBuildArg`. */
  rule: string;
  message: string;
  /** The rule's documentation, where BuildKit links one. */
  url?: string;
  location?: SourceLocation;
}

export interface ConvertResult {
  definition: Definition;
  /** The target's root filesystem (null for an empty `FROM scratch` result). */
  root: Vertex | null;
  /** The target's image config (what the exporter writes, minus rootfs/created). */
  config: ImageConfig;
  /** The target stage's name (or `stage-N`). */
  target: string;
  warnings: ConvertWarning[];
  /** SOURCE_DATE_EPOCH (unix seconds) when the build set it: the exporter dates the image with it. */
  sourceDateEpoch?: number;
  /** The BuildKit Dockerfile frontend `# syntax=` named, which the built-in frontend stands in for. */
  syntax?: string;
  /**
   * With `check=error=true`: the error the build fails with once the warnings are shown, before
   * anything runs (BuildKit's "lint violation found for rules: …").
   */
  lintError?: KilnError;
}

/** Parses an ONBUILD trigger expression (from an image config) into an instruction. */
export type TriggerParser = (expression: string, location: SourceLocation) => Instruction;

export interface ConvertInstructionsOptions extends ConvertOptions {
  parseTrigger: TriggerParser;
  /** Findings on the parsed file (casing, stage names, …), reported after empty continuations. */
  earlyWarnings?: ConvertWarning[];
}
