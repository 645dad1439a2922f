/**
 * Constructors for vertices. They take input vertices directly (not indices), fill every
 * default, and number the inputs deterministically, so callers cannot make two encodings of the
 * same work.
 */
import type { Platform } from '../oci/platform.ts';
import { normalizePlatform } from '../oci/platform.ts';
import type {
  BindMount,
  CacheMount,
  ChownSpec,
  CopyAction,
  ExecOp,
  ExtraHost,
  FileAction,
  InputIndex,
  MkdirAction,
  MkfileAction,
  Mount,
  NetworkMode,
  RmAction,
  SecretMount,
  SecurityMode,
  SshMount,
  SymlinkAction,
  TmpfsMount,
  Ulimit,
} from './ops.ts';
import { type Vertex, type VertexMeta, vertex } from './vertex.ts';

/** Numbers input vertices in first-use order; the same vertex used twice gets one index. */
class Inputs {
  readonly list: Vertex[] = [];
  index(v: Vertex | null): InputIndex {
    if (v === null) return null;
    const i = this.list.findIndex((x) => x.digest === v.digest);
    if (i >= 0) return i;
    this.list.push(v);
    return this.list.length - 1;
  }
}

export function imageSource(ref: string, platform: Platform, meta?: VertexMeta): Vertex {
  return vertex({ type: 'source', kind: 'image', ref, platform: normalizePlatform(platform) }, [], meta);
}

export interface LocalSourceOptions {
  includePatterns?: string[];
  excludePatterns?: string[];
  followPaths?: string[];
}

export function localSource(name: string, opts: LocalSourceOptions = {}, meta?: VertexMeta): Vertex {
  return vertex(
    {
      type: 'source',
      kind: 'local',
      name,
      includePatterns: [...(opts.includePatterns ?? [])],
      excludePatterns: [...(opts.excludePatterns ?? [])],
      followPaths: [...new Set(opts.followPaths ?? [])].sort(),
    },
    [],
    meta,
  );
}

export function httpSource(
  url: string,
  opts: { checksum?: string; filename?: string } = {},
  meta?: VertexMeta,
): Vertex {
  return vertex(
    { type: 'source', kind: 'http', url, checksum: opts.checksum, filename: opts.filename },
    [],
    meta,
  );
}

export function gitSource(
  url: string,
  opts: { ref?: string; subdir?: string; keepGitDir?: boolean } = {},
  meta?: VertexMeta,
): Vertex {
  return vertex(
    {
      type: 'source',
      kind: 'git',
      url,
      ref: opts.ref ?? '',
      subdir: opts.subdir ?? '',
      keepGitDir: opts.keepGitDir ?? false,
    },
    [],
    meta,
  );
}

/** Mount specs as callers write them: with input vertices instead of indices, defaults optional. */
export type MountSpec =
  | ({ type: 'bind'; target: string; source: Vertex | null } & Partial<
      Omit<BindMount, 'type' | 'target' | 'input'>
    >)
  | ({ type: 'cache'; target: string; id: string; source?: Vertex | null } & Partial<
      Omit<CacheMount, 'type' | 'target' | 'id' | 'input'>
    >)
  | ({ type: 'tmpfs'; target: string } & Partial<Omit<TmpfsMount, 'type' | 'target'>>)
  | ({ type: 'secret'; target: string; id: string } & Partial<Omit<SecretMount, 'type' | 'target' | 'id'>>)
  | ({ type: 'ssh'; target: string } & Partial<Omit<SshMount, 'type' | 'target'>>);

export interface ExecOptions {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: string;
  mounts?: MountSpec[];
  network?: NetworkMode;
  security?: SecurityMode;
  platform: Platform;
  hostname?: string;
  extraHosts?: ExtraHost[];
  ulimits?: Ulimit[];
  cgroupParent?: string;
}

function mountOf(m: MountSpec, inputs: Inputs): Mount {
  switch (m.type) {
    case 'bind':
      return {
        type: 'bind',
        target: m.target,
        input: inputs.index(m.source),
        selector: m.selector ?? '/',
        readonly: m.readonly ?? true,
      };
    case 'cache':
      return {
        type: 'cache',
        target: m.target,
        id: m.id,
        sharing: m.sharing ?? 'shared',
        input: inputs.index(m.source ?? null),
        selector: m.selector ?? '/',
        readonly: m.readonly ?? false,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o755,
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: m.target, size: m.size ?? 0 };
    case 'secret':
      return {
        type: 'secret',
        target: m.target,
        id: m.id,
        env: m.env,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o400,
        required: m.required ?? false,
      };
    case 'ssh':
      return {
        type: 'ssh',
        target: m.target,
        id: m.id ?? 'default',
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o600,
        required: m.required ?? false,
      };
  }
}

/** Run a process on `rootfs`; the result is the rootfs after it exits. */
export function exec(rootfs: Vertex | null, opts: ExecOptions, meta?: VertexMeta): Vertex {
  const inputs = new Inputs();
  const root = inputs.index(rootfs);
  // Sort before numbering inputs, so that the order mounts were listed in changes nothing.
  const mounts = [...(opts.mounts ?? [])]
    .sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0))
    .map((m) => mountOf(m, inputs));
  const op: ExecOp = {
    type: 'exec',
    rootfs: root,
    args: [...opts.args],
    env: [...(opts.env ?? [])],
    cwd: opts.cwd ?? '/',
    user: opts.user ?? '',
    mounts,
    network: opts.network ?? 'default',
    security: opts.security ?? 'sandbox',
    platform: normalizePlatform(opts.platform),
    hostname: opts.hostname ?? '',
  };
  if (opts.extraHosts?.length) op.extraHosts = opts.extraHosts.map((h) => ({ host: h.host, ip: h.ip }));
  if (opts.ulimits?.length) {
    // One limit per name (the last given wins, as docker's flag map keeps it), in name order.
    const byName = new Map(opts.ulimits.map((u) => [u.name, { name: u.name, soft: u.soft, hard: u.hard }]));
    op.ulimits = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  if (opts.cgroupParent) op.cgroupParent = opts.cgroupParent;
  return vertex(op, inputs.list, meta);
}

/** File actions as callers write them: copy sources are vertices (null = empty dir). */
export type FileActionSpec =
  | ({ action: 'copy'; source: Vertex | null; srcPaths: string[]; dest: string } & Partial<
      Omit<CopyAction, 'action' | 'src' | 'srcPaths' | 'dest'>
    >)
  | ({ action: 'mkfile'; path: string; data: string } & Partial<
      Omit<MkfileAction, 'action' | 'path' | 'data'>
    >)
  | ({ action: 'mkdir'; path: string } & Partial<Omit<MkdirAction, 'action' | 'path'>>)
  | ({ action: 'rm'; path: string } & Partial<Omit<RmAction, 'action' | 'path'>>)
  | ({ action: 'symlink'; oldpath: string; newpath: string } & Partial<
      Omit<SymlinkAction, 'action' | 'oldpath' | 'newpath'>
    >);

function chownOf(c: ChownSpec | undefined): ChownSpec | undefined {
  if (!c || (c.user === '' && !c.group)) return undefined;
  return c.group ? { user: c.user, group: c.group } : { user: c.user };
}

function actionOf(a: FileActionSpec, inputs: Inputs): FileAction {
  switch (a.action) {
    case 'copy': {
      return {
        action: 'copy',
        src: inputs.index(a.source),
        srcPaths: [...a.srcPaths],
        dest: a.dest,
        chown: chownOf(a.chown),
        chmod: a.chmod,
        followSymlinks: a.followSymlinks ?? true,
        dirContentsOnly: a.dirContentsOnly ?? true,
        allowWildcard: a.allowWildcard ?? true,
        allowEmptyWildcard: a.allowEmptyWildcard ?? false,
        createDestPath: a.createDestPath ?? true,
        includePatterns: [...(a.includePatterns ?? [])],
        excludePatterns: [...(a.excludePatterns ?? [])],
        parents: a.parents ?? false,
        unpack: a.unpack ?? false,
        link: a.link ?? false,
        createdTime: a.createdTime,
      };
    }
    case 'mkfile':
      return { action: 'mkfile', path: a.path, data: a.data, mode: a.mode ?? 0o644, chown: chownOf(a.chown) };
    case 'mkdir':
      return {
        action: 'mkdir',
        path: a.path,
        mode: a.mode ?? 0o755,
        makeParents: a.makeParents ?? false,
        chown: chownOf(a.chown),
        createdTime: a.createdTime,
      };
    case 'rm':
      return {
        action: 'rm',
        path: a.path,
        allowNotFound: a.allowNotFound ?? false,
        allowWildcard: a.allowWildcard ?? false,
      };
    case 'symlink':
      return { action: 'symlink', oldpath: a.oldpath, newpath: a.newpath, chown: chownOf(a.chown) };
  }
}

/** Apply `actions` in order to `base` (null = an empty filesystem). */
export function file(
  base: Vertex | null,
  actions: FileActionSpec[],
  opts: { cwd?: string; platform?: Platform } = {},
  meta?: VertexMeta,
): Vertex {
  const inputs = new Inputs();
  const b = inputs.index(base);
  const list = actions.map((a) => actionOf(a, inputs));
  return vertex(
    {
      type: 'file',
      base: b,
      cwd: opts.cwd ?? '/',
      actions: list,
      platform: opts.platform ? normalizePlatform(opts.platform) : undefined,
    },
    inputs.list,
    meta,
  );
}

export function merge(inputs: Vertex[], meta?: VertexMeta): Vertex {
  const set = new Inputs();
  const idx = inputs.map((v) => set.index(v) as number);
  return vertex({ type: 'merge', inputs: idx }, set.list, meta);
}

export function diff(lower: Vertex | null, upper: Vertex | null, meta?: VertexMeta): Vertex {
  const set = new Inputs();
  return vertex({ type: 'diff', lower: set.index(lower), upper: set.index(upper) }, set.list, meta);
}
