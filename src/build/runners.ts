/**
 * The worker side of each graph op for one build: base images, local contexts, downloads,
 * git checkouts, RUN and file ops, merges, and the context checksums that key the cache.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInRoot } from '../confine/resolve.ts';
import { checksum } from '../context/checksum.ts';
import type { DigestCache } from '../context/digestcache.ts';
import { KilnError } from '../errors/errors.ts';
import type { Executor } from '../executor/executor.ts';
import type { OpRunners } from '../ops/jobs.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { Store } from '../store/store.ts';
import { execFileAsync } from '../sys/exec.ts';
import { lstatSync } from '../sys/fs.ts';
import { runExec, secretSource } from '../worker/exec.ts';
import { runFileOp } from '../worker/fileop.ts';
import type { BaseImages } from '../worker/images.ts';
import { mergeStates } from '../worker/merge.ts';
import type { DirState } from '../worker/state.ts';
import type { BuildInput } from './input.ts';
import type { BuildOptions } from './options.ts';

export interface RunnerDeps {
  store: Store;
  snapshotter: Snapshotter;
  executor: Executor;
  images: BaseImages;
  digests: DigestCache;
  input: BuildInput;
  opts: BuildOptions;
  /** Temp dirs to remove when the build ends. */
  temps: string[];
}

function sshMap(opts: BuildOptions): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of opts.ssh) {
    const sock = s.paths[0] ?? process.env.SSH_AUTH_SOCK;
    if (sock) out[s.id] = sock;
  }
  return out;
}

/**
 * The `#ref:subdir` of a checkout, resolved inside it: the repository is hostile, so a `..` or
 * a symlink on the way (to /etc, say) stays in the checkout instead of reading the host.
 */
function checkoutSubdir(repo: string, op: { url: string; subdir: string }): string {
  const r = resolveInRoot(repo, op.subdir);
  if (!r.exists || !lstatSync(r.abs).isDirectory()) {
    throw new KilnError(
      'GIT_SOURCE_FAILED',
      `${op.url}: subdirectory "${op.subdir}" is not a directory of the repository`,
      {
        hint: 'check the path after the ":" in the URL fragment (#ref:subdir)',
      },
    );
  }
  return r.abs;
}

export function makeRunners(d: RunnerDeps): OpRunners {
  const sn = d.snapshotter;
  const tmpDir = async (prefix: string) => {
    const dir = join(d.store.root, 'tmp', `${prefix}-${randomUUID()}`);
    await mkdir(dir, { recursive: true });
    d.temps.push(dir);
    return dir;
  };
  const execDeps = {
    snapshotter: sn,
    executor: d.executor,
    stateRoot: d.store.root,
    secrets: secretSource(d.opts.secrets),
    ssh: sshMap(d.opts),
  };
  return {
    async image(op) {
      return d.images.unpack(await d.images.resolve(op.ref, op.platform), sn);
    },
    async local(op) {
      const dir = d.input.contexts[op.name];
      if (!dir) {
        throw new KilnError('CONTEXT_NOT_FOUND', `build context "${op.name}" was not provided`, {
          hint: `pass it with --build-context ${op.name}=DIR`,
        });
      }
      return {
        kind: 'dir',
        dir,
        excludePatterns: op.excludePatterns,
        includePatterns: op.includePatterns,
      } satisfies DirState;
    },
    async http(op, ctx) {
      const { fetchRemote } = await import('../fileops/remote.ts');
      const f = await fetchRemote(op.url, { checksum: op.checksum, signal: ctx.signal });
      d.temps.push(f.dir);
      // The converter names the file the copy reads (ADD's destination name rules).
      if (op.filename && op.filename !== f.name) await rename(join(f.dir, f.name), join(f.dir, op.filename));
      return { kind: 'dir', dir: f.dir, excludePatterns: [], includePatterns: [] } satisfies DirState;
    },
    async git(op) {
      const dir = await tmpDir('git');
      const repo = join(dir, 'repo');
      try {
        const args = ['clone', '--quiet', '--recurse-submodules'];
        if (op.ref && !/^[0-9a-f]{40}$/.test(op.ref)) args.push('--depth', '1', '--branch', op.ref);
        await execFileAsync('git', [...args, '--', op.url, repo], {
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
        });
        if (/^[0-9a-f]{40}$/.test(op.ref))
          await execFileAsync('git', ['-C', repo, 'checkout', '--quiet', op.ref]);
        if (!op.keepGitDir) await rm(join(repo, '.git'), { recursive: true, force: true });
      } catch (err) {
        const stderr = (err as { stderr?: string }).stderr?.trim();
        throw new KilnError(
          'GIT_SOURCE_FAILED',
          `cloning ${op.url}${op.ref ? `#${op.ref}` : ''} failed: ${stderr || (err as Error).message}`,
          {
            hint: 'check the repository URL and ref, and that git can reach it',
          },
        );
      }
      return {
        kind: 'dir',
        dir: op.subdir ? checkoutSubdir(repo, op) : repo,
        excludePatterns: [],
        includePatterns: [],
      } satisfies DirState;
    },
    exec: (op, inputs, ctx, extraEnv) => runExec(execDeps, op, inputs, ctx, extraEnv),
    file: (op, inputs, ctx) => runFileOp(sn, op, inputs, ctx),
    merge: (inputs, ctx) => mergeStates(sn, inputs, ctx),
    async dirChecksum(dir, paths, copy, visit) {
      return checksum({
        root: dir.dir,
        paths: paths.map((p) => (p === '/' ? '.' : p)),
        wildcard: copy?.allowWildcard ?? false,
        followSymlinks: copy?.followSymlinks ?? true,
        excludePatterns: dir.excludePatterns,
        copyExcludePatterns: copy?.excludePatterns,
        allowEmptyWildcard: copy?.allowEmptyWildcard ?? false,
        localContext: true,
        cache: d.digests,
        visit,
      });
    },
  };
}
