/**
 * RUN --mount preparation: turns cache, tmpfs, bind, secret and ssh mount requests into the
 * executor's bind/tmpfs mounts plus environment, and a cleanup that undoes everything. Cache
 * directories persist under <stateRoot>/cache-mounts keyed by id; secrets live on a tmpfs and
 * are bind-mounted read-only, so they never reach a layer; ssh forwards to an agent socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { isErrno, KilnError } from '../errors/errors.ts';
import { isMountPoint, mountAll, unmount } from '../snapshot/mount.ts';
import { makeOwnedDir } from '../sys/owner.ts';
import type { ExecMount } from './executor.ts';

export type CacheSharing = 'shared' | 'locked' | 'private';

export interface CacheMountSpec {
  type: 'cache';
  target: string;
  /** Cache identity; defaults to the target path, as in BuildKit. */
  id?: string;
  sharing?: CacheSharing;
  readonly?: boolean;
  /** Owner and mode of the cache directory when it is first created (default 0:0, 0755). */
  uid?: number;
  gid?: number;
  mode?: number;
}

export interface TmpfsMountSpec {
  type: 'tmpfs';
  target: string;
  size?: number;
}

export interface BindMountSpec {
  type: 'bind';
  target: string;
  /** The input's root: a mounted snapshot or a context directory. */
  root: string;
  /** Path inside `root`, resolved there by the executor (never leaving it). */
  source: string;
  /** Default true. */
  readonly?: boolean;
}

export interface SecretMountSpec {
  type: 'secret';
  id: string;
  /** Default /run/secrets/<id>. */
  target?: string;
  data: Uint8Array | string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface SshMountSpec {
  type: 'ssh';
  id?: string;
  /** Default /run/buildkit/ssh_agent.<n>. */
  target?: string;
  /** Host path of the ssh agent socket (e.g. $SSH_AUTH_SOCK). */
  socket: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export type RunMountSpec = CacheMountSpec | TmpfsMountSpec | BindMountSpec | SecretMountSpec | SshMountSpec;

export interface PreparedRunMounts {
  mounts: ExecMount[];
  /** Extra environment for the process (SSH_AUTH_SOCK). */
  env: string[];
  /**
   * Settles once every `sharing=locked` cache is held (rejects if a lock cannot be taken): the
   * process may start only then (ExecIO.ready), while everything else is made ready before.
   */
  ready: Promise<void>;
  /**
   * Let go of the `sharing=locked` caches' locks now (also done by cleanup): when the RUN's
   * processes are all gone, before its rootfs is unmounted (ExecIO.exited). Idempotent.
   */
  releaseLocks(): Promise<void>;
  /** Release locks, unmount secret tmpfs, stop ssh forwarding, drop private cache copies. Idempotent. */
  cleanup(): Promise<void>;
}

/**
 * `deferLocks`: return before the `sharing=locked` caches are held, with `ready` for the executor
 * to wait on (ExecIO.ready); otherwise they are held when this returns.
 * `canMount: false` (the chroot executor, which cannot mount either): the secrets go in a plain
 * 0700 directory instead of a tmpfs, on disk only while the RUN lasts.
 */
export async function prepareRunMounts(
  specs: RunMountSpec[],
  stateRoot: string,
  opts: { canMount?: boolean; deferLocks?: boolean } = {},
): Promise<PreparedRunMounts> {
  const mounts: ExecMount[] = [];
  const env: string[] = [];
  const undo: (() => Promise<void>)[] = [];
  let sshIndex = 0;
  let secretsDir: string | undefined;
  // The locks, taken one after another in the order of the mounts, as before they were waited for.
  let ready = Promise.resolve();
  const locks: (() => Promise<void>)[] = [];
  const releaseLocks = async () => {
    for (const release of locks.splice(0)) await release().catch(() => undefined);
  };
  const cleanup = async () => {
    while (undo.length > 0) await undo.pop()!().catch(() => undefined);
  };
  try {
    for (const spec of specs) {
      switch (spec.type) {
        case 'cache': {
          const { dir, release, held } = await acquireCache(spec, stateRoot, ready);
          if (held) {
            ready = held;
            if (locks.length === 0) undo.push(releaseLocks);
            locks.push(release);
          } else undo.push(release);
          mounts.push({ type: 'bind', source: dir, target: spec.target, readonly: spec.readonly ?? false });
          break;
        }
        case 'tmpfs':
          mounts.push({ type: 'tmpfs', target: spec.target, size: spec.size });
          break;
        case 'bind':
          mounts.push({
            type: 'bind',
            root: spec.root,
            source: spec.source,
            target: spec.target,
            readonly: spec.readonly ?? true,
          });
          break;
        case 'secret': {
          if (!secretsDir) {
            secretsDir = await makeSecretsDir(stateRoot, opts.canMount ?? true);
            const d = secretsDir;
            undo.push(() => removeSecretsDir(d));
          }
          mounts.push({
            type: 'bind',
            source: await writeSecretFile(secretsDir, spec),
            target: spec.target ?? `/run/secrets/${spec.id}`,
            readonly: true,
          });
          break;
        }
        case 'ssh': {
          const target = spec.target ?? `/run/buildkit/ssh_agent.${sshIndex++}`;
          const { socket, close } = await forwardSocket(spec, stateRoot);
          undo.push(close);
          mounts.push({ type: 'bind', source: socket, target, readonly: false });
          if (!env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) env.push(`SSH_AUTH_SOCK=${target}`);
          break;
        }
        default:
          throw new KilnError(
            'MOUNT_TYPE_UNKNOWN',
            `unknown RUN --mount type "${(spec as { type: string }).type}"`,
            {
              hint: 'Use bind, cache, tmpfs, secret or ssh.',
            },
          );
      }
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  if (!opts.deferLocks) {
    try {
      await ready;
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  // Awaited by the executor; a step that fails before that must not leave it unhandled.
  ready.catch(() => undefined);
  return { mounts, env, cleanup, ready, releaseLocks };
}

// ---- cache mounts -------------------------------------------------------------------------

/** Users of each cache id in this process, for private and locked sharing. */
const inUse = new Map<string, number>();
/** This process's users of a locked cache id: whether one holds it, and who waits (in order). */
interface LockQueue {
  held: boolean;
  waiting: (() => void)[];
}
const lockQueues = new Map<string, LockQueue>();

/** Where the instances of one cache id live (the id is hashed: it is any string a Dockerfile chose). */
function cacheBase(stateRoot: string, id: string): string {
  return path.join(stateRoot, 'cache-mounts', createHash('sha256').update(id).digest('hex').slice(0, 32));
}

/** The directory a cache id's shared contents live in (what `--cache-to …,cache-mounts=true` carries). */
export function cacheMountDir(stateRoot: string, id: string): string {
  return path.join(cacheBase(stateRoot, id), 'data');
}

/**
 * Empty the caches of these ids, as BuildKit does before a `--no-cache` build whose RUN steps
 * mount them: their contents are discarded (not kept for later builds), so those steps, and any
 * other step of the build mounting the same id, start from an empty directory, and what they
 * write becomes the cache from then on. The directory is renamed away first (a RUN starting now
 * gets a fresh one), into a scratch directory named for this process, so a kill midway leaves
 * nothing a later kiln would not sweep.
 */
export async function resetCacheMounts(stateRoot: string, ids: Iterable<string>): Promise<void> {
  for (const id of new Set(ids)) {
    const data = path.join(cacheBase(stateRoot, id), 'data');
    let trash: string | undefined;
    try {
      trash = await makeOwnedDir(stateRoot, 'discard');
      await fs.rename(data, path.join(trash, 'data'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) {
        if (trash) await fs.rm(trash, { recursive: true, force: true });
        throw err;
      }
    }
    if (trash) await fs.rm(trash, { recursive: true, force: true });
  }
}

/**
 * A cache mount's directory. A `locked` one is made now and its lock taken after `before` (the
 * RUN's earlier locks): `held` settles when it is, and `release` waits for that before letting go.
 */
async function acquireCache(
  spec: CacheMountSpec,
  stateRoot: string,
  before: Promise<void>,
): Promise<{ dir: string; release: () => Promise<void>; held?: Promise<void> }> {
  const id = spec.id || spec.target;
  const base = cacheBase(stateRoot, id);
  await fs.mkdir(base, { recursive: true, mode: 0o700 });
  const sharing = spec.sharing ?? 'shared';
  if (sharing === 'private' && (inUse.get(id) ?? 0) > 0) {
    // BuildKit semantics: a concurrent private user gets its own fresh instance.
    const dir = path.join(base, `private-${randomBytes(6).toString('hex')}`);
    await createCacheDir(dir, spec);
    return { dir, release: () => fs.rm(dir, { recursive: true, force: true }) };
  }
  const dir = path.join(base, 'data');
  // Made (owner and mode only when new) before the lock: whoever holds it runs on the same one.
  await createCacheDir(dir, spec);
  const use = () => inUse.set(id, (inUse.get(id) ?? 0) + 1);
  const unuse = () => inUse.set(id, (inUse.get(id) ?? 1) - 1);
  if (sharing !== 'locked') {
    use();
    return { dir, release: async () => void unuse() };
  }
  let dropped = false;
  let cancel: (() => void) | undefined;
  const lock = before.then(() => {
    if (dropped) throw lockCanceled(id);
    const l = lockCache(id, path.join(base, 'lock'));
    cancel = l.cancel;
    return l.acquired;
  });
  const held = lock.then(() => void use());
  return {
    dir,
    held,
    // Before the lock is held (a canceled RUN), its wait ends here: nothing waits for the holder.
    release: async () => {
      dropped = true;
      cancel?.();
      const releaseLock = await lock.catch(() => undefined);
      if (!releaseLock) return;
      unuse();
      await releaseLock();
    },
  };
}

async function createCacheDir(dir: string, spec: CacheMountSpec): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    throw err;
  }
  await fs.chown(dir, spec.uid ?? 0, spec.gid ?? 0);
  await fs.chmod(dir, spec.mode ?? 0o755);
}

/**
 * Serialize users of one cache id: a queue in this process, an O_EXCL lock file across
 * processes. `cancel` ends a wait that has not got the lock yet (`acquired` then rejects: a
 * canceled RUN's cleanup does not wait for the holder); once it has, the release it resolves to
 * lets go.
 */
function lockCache(
  id: string,
  lockFile: string,
): { acquired: Promise<() => Promise<void>>; cancel: () => void } {
  let q = lockQueues.get(id);
  if (!q) {
    q = { held: false, waiting: [] };
    lockQueues.set(id, q);
  }
  const queue = q;
  let canceled = false;
  let stopWaiting: ((err: Error) => void) | undefined;
  const acquired = (async () => {
    await new Promise<void>((grant, reject) => {
      queue.waiting.push(grant);
      stopWaiting = (err) => {
        const i = queue.waiting.indexOf(grant);
        if (i < 0) return;
        queue.waiting.splice(i, 1);
        handOn(id, queue);
        reject(err);
      };
      handOn(id, queue);
    });
    stopWaiting = undefined;
    try {
      for (;;) {
        if (canceled) throw lockCanceled(id);
        try {
          const fh = await fs.open(lockFile, 'wx', 0o600);
          await fh.writeFile(String(process.pid));
          await fh.close();
          break;
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
          const holder = Number(await fs.readFile(lockFile, 'utf8').catch(() => ''));
          if (!holder || !alive(holder)) await fs.rm(lockFile, { force: true });
          else await new Promise((r) => setTimeout(r, 50));
        }
      }
    } catch (err) {
      queue.held = false;
      handOn(id, queue);
      throw err;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await fs.rm(lockFile, { force: true });
      queue.held = false;
      handOn(id, queue);
    };
  })();
  return {
    acquired,
    cancel: () => {
      canceled = true;
      stopWaiting?.(lockCanceled(id));
    },
  };
}

function lockCanceled(id: string): KilnError {
  return new KilnError('CACHE_LOCK_CANCELED', `waiting for the lock of cache "${id}" was canceled`);
}

/** A free lock goes to the first waiter; a queue nobody uses is forgotten. */
function handOn(id: string, q: LockQueue): void {
  if (q.held) return;
  const next = q.waiting.shift();
  if (next) {
    q.held = true;
    next();
  } else if (lockQueues.get(id) === q) lockQueues.delete(id);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

// ---- secrets ------------------------------------------------------------------------------

/** The secrets tmpfs's size: 32 secrets at BuildKit's 500 KiB limit, more than any RUN needs. */
const SECRETS_TMPFS = '16m';

/**
 * A private tmpfs (memory only, so secrets never touch the disk) for this run's secret files.
 * Its name carries our pid (store/leftovers.ts), so if kiln is killed the next kiln command
 * unmounts it instead of leaving the plaintext mounted.
 */
async function makeSecretsDir(stateRoot: string, canMount: boolean): Promise<string> {
  const dir = await makeOwnedDir(stateRoot, 'secrets');
  if (!canMount) return dir;
  try {
    await mountAll(
      [
        {
          type: 'tmpfs',
          source: 'tmpfs',
          options: [`size=${SECRETS_TMPFS}`, 'mode=0700', 'nosuid', 'nodev', 'noexec'],
        },
      ],
      dir,
    );
  } catch (err) {
    await fs.rmdir(dir).catch(() => undefined);
    throw new KilnError('SECRET_TMPFS_FAILED', 'cannot mount a tmpfs for secrets', {
      cause: err,
      hint: 'Secret mounts need root (to mount a tmpfs) like RUN itself.',
    });
  }
  return dir;
}

/**
 * The file one secret mount binds, shared by mounts that want the same secret with the same
 * owner and mode (a second mount of one id at another target is not an error).
 */
async function writeSecretFile(dir: string, spec: SecretMountSpec): Promise<string> {
  const mode = spec.mode ?? 0o400;
  const key = `${spec.id}\0${mode}\0${spec.uid ?? 0}\0${spec.gid ?? 0}`;
  const file = path.join(dir, createHash('sha256').update(key).digest('hex').slice(0, 16));
  try {
    await fs.writeFile(file, spec.data, { mode, flag: 'wx' });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return file;
    if (isErrno(err, 'ENOSPC')) {
      throw new KilnError('SECRET_MOUNTS_TOO_LARGE', `the secrets of this RUN exceed ${SECRETS_TMPFS}B`, {
        cause: err,
        hint: 'mount fewer secrets in one RUN, or mount each one once',
      });
    }
    throw err;
  }
  await fs.chmod(file, mode);
  await fs.chown(file, spec.uid ?? 0, spec.gid ?? 0);
  return file;
}

async function removeSecretsDir(dir: string): Promise<void> {
  if (await isMountPoint(dir)) await unmount(dir);
  await fs.rm(dir, { recursive: true, force: true });
}

// ---- ssh ----------------------------------------------------------------------------------

/**
 * A socket owned by the requested uid/gid/mode that forwards each connection to the host
 * agent, so the container never gets (or chmods) the host's own socket.
 */
async function forwardSocket(
  spec: SshMountSpec,
  stateRoot: string,
): Promise<{ socket: string; close: () => Promise<void> }> {
  await fs.stat(spec.socket).catch((err) => {
    throw new KilnError(
      'SSH_AGENT_MISSING',
      `ssh agent socket ${spec.socket} for --mount=type=ssh${spec.id ? `,id=${spec.id}` : ''} does not exist`,
      {
        cause: err,
        hint: 'Start ssh-agent and pass --ssh default=$SSH_AUTH_SOCK.',
      },
    );
  });
  // Owned by this process (store/leftovers.ts), so a killed kiln's socket is cleaned up.
  const dir = await makeOwnedDir(stateRoot, 'ssh');
  await fs.chmod(dir, 0o711);
  const socket = path.join(dir, 'agent.sock');
  const server = createServer((conn) => {
    const upstream = connect(spec.socket);
    conn.pipe(upstream).pipe(conn);
    const end = () => {
      conn.destroy();
      upstream.destroy();
    };
    conn.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  await fs.chown(socket, spec.uid ?? 0, spec.gid ?? 0);
  await fs.chmod(socket, spec.mode ?? 0o600);
  return {
    socket,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
