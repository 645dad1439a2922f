/**
 * The ops of kiln's build graph (its LLB): plain, serializable data. An op names its inputs by
 * index into the vertex's input list, so the same op over different inputs is different work
 * only through the inputs' digests. Constructors fill every default, so that two spellings of
 * the same work encode (and digest) identically.
 */
import type { Platform } from '../oci/platform.ts';

/** Index into a vertex's `inputs`; `null` means an empty filesystem (scratch). */
export type InputIndex = number | null;

export interface ImageSource {
  type: 'source';
  kind: 'image';
  /** Normalized reference, pinned by digest when known. */
  ref: string;
  platform: Platform;
}

export interface LocalSource {
  type: 'source';
  kind: 'local';
  /** The local context's name (`context` for the main build context). */
  name: string;
  includePatterns: string[];
  excludePatterns: string[];
  followPaths: string[];
}

export interface HttpSource {
  type: 'source';
  kind: 'http';
  url: string;
  /** Expected digest of the downloaded bytes, when the user pinned one (ADD --checksum). */
  checksum?: string;
  /** Name of the file written into the (single-file) result; default is from the URL. */
  filename?: string;
}

export interface GitSource {
  type: 'source';
  kind: 'git';
  /** Remote without the fragment, e.g. `https://github.com/moby/buildkit.git`. */
  url: string;
  /** Branch, tag or commit; empty means the remote's default branch. */
  ref: string;
  /** Sub-directory of the repository to return (from `#ref:subdir`). */
  subdir: string;
  keepGitDir: boolean;
}

export type SourceOp = ImageSource | LocalSource | HttpSource | GitSource;

export type CacheSharing = 'shared' | 'locked' | 'private';

export interface BindMount {
  type: 'bind';
  target: string;
  input: InputIndex;
  /** Path inside the input that is mounted (default `/`). */
  selector: string;
  readonly: boolean;
}

export interface CacheMount {
  type: 'cache';
  target: string;
  id: string;
  sharing: CacheSharing;
  /** Seed for a new cache: an input and the path inside it. */
  input: InputIndex;
  selector: string;
  readonly: boolean;
  uid: number;
  gid: number;
  mode: number;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Size limit in bytes; 0 means the kernel default. */
  size: number;
}

export interface SecretMount {
  type: 'secret';
  target: string;
  id: string;
  /** Also expose the secret as this environment variable (RUN --mount=type=secret,env=). */
  env?: string;
  uid: number;
  gid: number;
  mode: number;
  required: boolean;
}

export interface SshMount {
  type: 'ssh';
  target: string;
  id: string;
  uid: number;
  gid: number;
  mode: number;
  required: boolean;
}

export type Mount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

/** A line added to a RUN's /etc/hosts (`--add-host host=ip`). */
export interface ExtraHost {
  host: string;
  ip: string;
}

/** A resource limit for a RUN's processes (`--ulimit nofile=1024:2048`); -1 means unlimited. */
export interface Ulimit {
  /** Docker's name: `nofile`, `nproc`, `core`, … (RLIMIT_ and the name in capitals). */
  name: string;
  soft: number;
  hard: number;
}

/** A process in a container. Its one output is the root filesystem after the process exits. */
export interface ExecOp {
  type: 'exec';
  rootfs: InputIndex;
  args: string[];
  /** `KEY=VALUE`, in order. */
  env: string[];
  cwd: string;
  /** `user[:group]` as written (resolved against the rootfs at run time); empty means root. */
  user: string;
  mounts: Mount[];
  network: NetworkMode;
  security: SecurityMode;
  platform: Platform;
  hostname: string;
  // The build's RUN settings, as BuildKit's ExecOp meta holds them (so they change the cache
  // key); each is absent when unset, which keeps the digests of ops that have none.
  /** `--add-host`: lines added to /etc/hosts, in order. */
  extraHosts?: ExtraHost[];
  /** `--ulimit`: resource limits, one per name, sorted by name. */
  ulimits?: Ulimit[];
  /** `--cgroup-parent`: the cgroup the step's container is created under. */
  cgroupParent?: string;
}

/** A user/group as written (`name`, `uid`, `name:group`, `1000:1000`); resolved at run time. */
export interface ChownSpec {
  user: string;
  group?: string;
}

export interface CopyAction {
  action: 'copy';
  /** The input copied from (null = an empty filesystem, e.g. a `FROM scratch` stage). */
  src: InputIndex;
  /** Absolute paths in the source; shell-style patterns (`*.go`) when `allowWildcard`. */
  srcPaths: string[];
  /** Absolute, or relative to the op's cwd; a trailing `/` means "into this directory". */
  dest: string;
  chown?: ChownSpec;
  /** Octal mode string as written (`0755`) or symbolic (`u+x`), applied to copied files. */
  chmod?: string;
  /** Follow a symlink named directly as a source (links inside directories are copied as links). */
  followSymlinks: boolean;
  /** A source directory contributes its contents, not itself (COPY dir/ /x puts dir's files in /x). */
  dirContentsOnly: boolean;
  allowWildcard: boolean;
  /** A pattern matching nothing is not an error. */
  allowEmptyWildcard: boolean;
  /** Create missing parents of dest. */
  createDestPath: boolean;
  /** Only paths under srcPaths matching these (relative) patterns are copied; empty = all. */
  includePatterns: string[];
  excludePatterns: string[];
  /** COPY --parents: keep the source's parent directories under dest. */
  parents: boolean;
  /** ADD: extract local archives instead of copying them. */
  unpack: boolean;
  /** COPY --link: the copy does not depend on the base (a separate layer rebased onto it). */
  link: boolean;
  /** Set the copied files' mtime to this (unix seconds; SOURCE_DATE_EPOCH). */
  createdTime?: number;
}

export interface MkfileAction {
  action: 'mkfile';
  /** Absolute, or relative to the op's cwd. */
  path: string;
  /** UTF-8 text (heredocs). */
  data: string;
  mode: number;
  chown?: ChownSpec;
}

export interface MkdirAction {
  action: 'mkdir';
  path: string;
  mode: number;
  makeParents: boolean;
  chown?: ChownSpec;
  /** mtime of the directories made (unix seconds; SOURCE_DATE_EPOCH). */
  createdTime?: number;
}

export interface RmAction {
  action: 'rm';
  path: string;
  allowNotFound: boolean;
  allowWildcard: boolean;
}

export interface SymlinkAction {
  action: 'symlink';
  /** Where the link points. */
  oldpath: string;
  /** The link created. */
  newpath: string;
  chown?: ChownSpec;
}

export type FileAction = CopyAction | MkfileAction | MkdirAction | RmAction | SymlinkAction;

/** A sequence of filesystem actions applied in order to `base`; copies read from other inputs. */
export interface FileOp {
  type: 'file';
  base: InputIndex;
  /** Working directory relative paths are resolved against. */
  cwd: string;
  actions: FileAction[];
  platform?: Platform;
}

/** The layers of all inputs stacked in order (later ones win). */
export interface MergeOp {
  type: 'merge';
  inputs: number[];
}

/** What `upper` changed relative to `lower`, as a filesystem. */
export interface DiffOp {
  type: 'diff';
  lower: InputIndex;
  upper: InputIndex;
}

export type Op = SourceOp | ExecOp | FileOp | MergeOp | DiffOp;
