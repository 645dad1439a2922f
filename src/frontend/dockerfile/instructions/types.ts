/**
 * The typed Dockerfile instruction model (BuildKit's instructions/commands.go, in TypeScript).
 * The parser's AST becomes these values in parse.ts; the converter turns them into a build graph.
 * Words are kept raw (not variable-expanded); expand.ts knows which fields the converter expands.
 * This is a shared contract: changes must be additive.
 */
import type { SourceLocation } from '../../../errors/errors.ts';

/** Fields every instruction carries. */
export interface InstructionBase {
  /** Upper-case instruction keyword, the discriminator. */
  readonly kind: string;
  /** Lines the instruction spans (continuations included; heredoc bodies included). */
  readonly location: SourceLocation;
  /** The instruction as written, continuations joined (BuildKit `Node.Original`). */
  readonly original: string;
  /** Names of the `--flags` that appeared (without dashes), in order of first use. */
  readonly flagsUsed: readonly string[];
}

/** ENV / LABEL pair. `noDelim` is true for the legacy `ENV KEY value` form. */
export interface KeyValuePair {
  readonly key: string;
  readonly value: string;
  readonly noDelim: boolean;
}

/** ARG name with optional default (`ARG a` → value undefined, `ARG a=` → value ''). */
export interface KeyValuePairOptional {
  readonly key: string;
  readonly value?: string;
  /** Doc comment from the comment block right above the ARG line (the key itself removed). */
  readonly docComment: string;
}

/** A heredoc attached to an instruction, as the parser found it. */
export interface Heredoc {
  /** Delimiter word with quotes removed (`<<'EOF'` → `EOF`). */
  readonly name: string;
  /** Body as written, ending in '\n' for each line; the terminator line excluded. */
  readonly content: string;
  /** False when any part of the delimiter was quoted: the body must not be expanded. */
  readonly expand: boolean;
  /** True for `<<-`: leading tabs are stripped from each line. */
  readonly chomp: boolean;
  /** `3<<EOF` → 3; 0 (stdin) when no fd prefix was given. */
  readonly fileDescriptor?: number;
}

/** A heredoc source of COPY/ADD (`path` is the heredoc name, `data` already tab-chomped for `<<-`). */
export interface SourceContent {
  readonly path: string;
  readonly data: string;
  readonly expand: boolean;
}

/** Sources and destination of COPY/ADD, raw words. */
export interface SourcesAndDest {
  readonly destPath: string;
  /** Plain source paths / URLs; empty when all sources are heredocs. */
  readonly sourcePaths: readonly string[];
  /** Heredoc sources, in order. */
  readonly sourceContents: readonly SourceContent[];
}

/** A heredoc file fed to RUN (data NOT chomped; `chomp` records `<<-`). */
export interface ShellInlineFile {
  readonly name: string;
  readonly data: string;
  readonly chomp: boolean;
}

/**
 * Command line of RUN / CMD / ENTRYPOINT. `prependShell` is true for shell form: `cmdLine` is then
 * one string (the raw rest of the line) and the converter prepends the stage's SHELL.
 */
export interface ShellDependantCmdLine {
  readonly cmdLine: readonly string[];
  readonly files: readonly ShellInlineFile[];
  readonly prependShell: boolean;
}

// ---- RUN mounts (--mount=type=...) -------------------------------------------------------------

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

interface MountCommon {
  /** Mount point in the container; for secret/ssh it is filled with the BuildKit default if omitted. */
  readonly target: string;
  readonly readOnly: boolean;
}

/** `type=bind` (the default type): read-only unless `rw`. */
export interface BindMount extends MountCommon {
  readonly type: 'bind';
  /** Path inside `from` (default: its root). */
  readonly source?: string;
  /** Stage name, image reference or build context name; undefined = the main build context. */
  readonly from?: string;
}

/** `type=cache`: persistent cache directory. `id` defaults to the target. */
export interface CacheMount extends MountCommon {
  readonly type: 'cache';
  readonly id: string;
  readonly sharing: CacheSharing;
  readonly from?: string;
  readonly source?: string;
  /** Permission bits of a newly created cache dir (default 0o755). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** `type=tmpfs`. */
export interface TmpfsMount extends MountCommon {
  readonly type: 'tmpfs';
  /** `size=` in bytes; undefined = unlimited (kernel default). */
  readonly size?: number;
}

/** `type=secret`: `id` defaults to basename(target); target defaults to /run/secrets/<id>. */
export interface SecretMount extends MountCommon {
  readonly type: 'secret';
  readonly id: string;
  /** `env=NAME`: expose the secret as an environment variable (target may then be empty). */
  readonly env?: string;
  readonly required: boolean;
  /** Default 0o400. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** `type=ssh`: `id` defaults to 'default'; target defaults to /run/buildkit/ssh_agent.<n>. */
export interface SshMount extends MountCommon {
  readonly type: 'ssh';
  readonly id: string;
  readonly required: boolean;
  /** Default 0o600. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export type Mount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

/** `RUN --network=` values. */
export type NetworkMode = 'default' | 'none' | 'host';
/** `RUN --security=` values. */
export type SecurityMode = 'sandbox' | 'insecure';

/** `RUN --device=name[,required]`. */
export interface DeviceSpec {
  readonly name: string;
  readonly required: boolean;
}

// ---- instructions ------------------------------------------------------------------------------

export interface RunCommand extends InstructionBase, ShellDependantCmdLine {
  readonly kind: 'RUN';
  /** Raw `--mount` values as written (the converter re-parses them after expansion). */
  readonly mountSpecs: readonly string[];
  /** `--mount` values parsed without variable expansion. */
  readonly mounts: readonly Mount[];
  /** `--network`; undefined when not given. */
  readonly network?: NetworkMode;
  /** `--security`; undefined when not given. */
  readonly security?: SecurityMode;
  readonly devices: readonly DeviceSpec[];
}

export interface CmdCommand extends InstructionBase, ShellDependantCmdLine {
  readonly kind: 'CMD';
}

export interface EntrypointCommand extends InstructionBase, ShellDependantCmdLine {
  readonly kind: 'ENTRYPOINT';
}

/** SHELL must be JSON form; `shell` is the argv. */
export interface ShellCommand extends InstructionBase {
  readonly kind: 'SHELL';
  readonly shell: readonly string[];
}

export interface EnvCommand extends InstructionBase {
  readonly kind: 'ENV';
  readonly env: readonly KeyValuePair[];
}

export interface LabelCommand extends InstructionBase {
  readonly kind: 'LABEL';
  readonly labels: readonly KeyValuePair[];
}

/** ARG with one or more names (`ARG a b=1`). */
export interface ArgCommand extends InstructionBase {
  readonly kind: 'ARG';
  readonly args: readonly KeyValuePairOptional[];
  /** `ARG --required`: the build fails unless a value is provided (set whenever the flag appears). */
  readonly required: boolean;
}

export interface ExposeCommand extends InstructionBase {
  readonly kind: 'EXPOSE';
  /** Raw port words (`80`, `8080/udp`, `${PORT}`). */
  readonly ports: readonly string[];
}

export interface VolumeCommand extends InstructionBase {
  readonly kind: 'VOLUME';
  readonly volumes: readonly string[];
}

export interface UserCommand extends InstructionBase {
  readonly kind: 'USER';
  readonly user: string;
}

export interface WorkdirCommand extends InstructionBase {
  readonly kind: 'WORKDIR';
  readonly path: string;
}

export interface StopSignalCommand extends InstructionBase {
  readonly kind: 'STOPSIGNAL';
  readonly signal: string;
}

export interface MaintainerCommand extends InstructionBase {
  readonly kind: 'MAINTAINER';
  readonly maintainer: string;
}

/** Fields shared by COPY and ADD. `chmod` is raw: octal (`755`) or symbolic (`u+x,g-w`). */
export interface CopyAddCommon {
  readonly sourcesAndDest: SourcesAndDest;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly excludePatterns: readonly string[];
}

export interface CopyCommand extends InstructionBase, CopyAddCommon {
  readonly kind: 'COPY';
  /** `--from=` stage name, index or image reference. */
  readonly from?: string;
  /** `--parents`: keep the source's parent directories. */
  readonly parents: boolean;
}

export interface AddCommand extends InstructionBase, CopyAddCommon {
  readonly kind: 'ADD';
  /** `--keep-git-dir`; undefined when not given. */
  readonly keepGitDir?: boolean;
  /** `--checksum=sha256:...` for HTTP / git sources. */
  readonly checksum?: string;
  /** `--unpack`; undefined when not given (then archives from the context are unpacked, URLs are not). */
  readonly unpack?: boolean;
}

/** Docker's HealthcheckConfig; durations in nanoseconds (0 = inherit/default). */
export interface HealthConfig {
  /** `['NONE']`, `['CMD', ...argv]` or `['CMD-SHELL', cmd]`. */
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export interface HealthCheckCommand extends InstructionBase {
  readonly kind: 'HEALTHCHECK';
  readonly health: HealthConfig;
}

export interface OnbuildCommand extends InstructionBase {
  readonly kind: 'ONBUILD';
  /** The trigger as written (goes into the image config's OnBuild list). */
  readonly expression: string;
  /** The trigger, parsed and validated. */
  readonly trigger: Instruction;
}

/** Any instruction that can appear inside a stage. */
export type Instruction =
  | RunCommand
  | CmdCommand
  | EntrypointCommand
  | ShellCommand
  | EnvCommand
  | LabelCommand
  | ArgCommand
  | ExposeCommand
  | VolumeCommand
  | UserCommand
  | WorkdirCommand
  | StopSignalCommand
  | MaintainerCommand
  | CopyCommand
  | AddCommand
  | HealthCheckCommand
  | OnbuildCommand;

export type InstructionKind = Instruction['kind'];

/** `FROM [--platform=p] base [AS name]`, as an instruction. */
export interface FromCommand extends InstructionBase {
  readonly kind: 'FROM';
  readonly baseName: string;
  /** Lower-cased stage name; undefined without AS. */
  readonly name?: string;
  /** Raw `--platform` value (may contain $BUILDPLATFORM etc.). */
  readonly platform?: string;
}

/** One build stage: a FROM and the instructions after it. */
export interface Stage {
  /** Lower-cased `AS` name; undefined when unnamed. */
  readonly name?: string;
  /** Raw base image word (may reference meta ARGs). */
  readonly baseName: string;
  /** Raw `--platform` value. */
  readonly platform?: string;
  readonly instructions: readonly Instruction[];
  /** Location of the FROM line. */
  readonly location: SourceLocation;
  /** Original FROM text. */
  readonly original: string;
  /** Doc comment above FROM whose first word is the stage name (name removed). */
  readonly docComment: string;
  /** Position of the stage in the file (0-based), usable for `--from=<n>`. */
  readonly index: number;
  /** The FROM itself. */
  readonly from: FromCommand;
}

/** Warning found while parsing (e.g. an empty continuation line). */
export interface ParseWarning {
  readonly short: string;
  readonly detail?: string;
  readonly url?: string;
  readonly location: SourceLocation;
}

/** A whole Dockerfile, typed. */
export interface DockerfileInstructions {
  readonly stages: readonly Stage[];
  /** ARGs before the first FROM (global scope, usable in FROM lines). */
  readonly metaArgs: readonly ArgCommand[];
  /** `# escape=` in effect. */
  readonly escapeToken: string;
  /** `# syntax=` value, if any. */
  readonly syntax?: string;
  /** `# check=` value, if any. */
  readonly check?: string;
  readonly warnings: readonly ParseWarning[];
}

/** Expand one word (the converter supplies the shell lexer bound to the current env). */
export type WordExpander = (word: string) => string;
