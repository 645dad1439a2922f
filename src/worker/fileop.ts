/**
 * Running a file vertex (COPY, ADD, WORKDIR, heredoc files): a writable snapshot over the base,
 * each action applied in order on the mounted tree through root-confined path resolution, then
 * commit. Copy sources are other inputs: a context directory or another stage's filesystem.
 */
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  lchownSync,
  lstatSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { containsWildcards, resolveInRoot, resolveWildcards } from '../context/resolve.ts';
import { KilnError } from '../errors/errors.ts';
import { copy } from '../fileops/copy.ts';
import { mkdirAllInRoot } from '../fileops/dest.ts';
import { type Owner, resolveChown } from '../fileops/user.ts';
import type { ChownSpec, FileAction, FileOp } from '../graph/ops.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { JobContext } from '../solver/solver.ts';
import { withStatePaths } from './mounted.ts';
import { type BuildState, type FsState, SCRATCH, top } from './state.ts';

function absolute(cwd: string, p: string): string {
  const keepSlash = p.endsWith('/');
  const joined = posix.isAbsolute(p) ? p : posix.join(cwd || '/', p);
  const clean = posix.normalize(joined);
  return keepSlash && !clean.endsWith('/') ? `${clean}/` : clean;
}

function owner(root: string, spec: ChownSpec | undefined): Owner | undefined {
  return spec ? resolveChown(root, spec) : undefined;
}

function parentOf(root: string, path: string): { dir: string; name: string } {
  const clean = posix.normalize(`/${path}`).replace(/\/+$/, '');
  const name = posix.basename(clean);
  if (!name) throw new KilnError('FILEOP_INVALID_PATH', `cannot create "${path}": it names the root`);
  const parent = mkdirAllInRoot(root, posix.dirname(clean));
  return { dir: parent.abs, name };
}

function mkfile(root: string, a: Extract<FileAction, { action: 'mkfile' }>, cwd: string): void {
  const { dir, name } = parentOf(root, absolute(cwd, a.path));
  const file = `${dir}/${name}`;
  // Never write through a symlink planted in the image: replace whatever is there.
  try {
    if (!lstatSync(file).isDirectory()) rmSync(file, { force: true });
  } catch {
    // absent
  }
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    a.mode,
  );
  try {
    writeSync(fd, a.data);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, a.mode);
  const o = owner(root, a.chown);
  if (o) lchownSync(file, o.uid, o.gid);
}

function rm(root: string, a: Extract<FileAction, { action: 'rm' }>, cwd: string): void {
  const p = absolute(cwd, a.path);
  const targets = a.allowWildcard && containsWildcards(p) ? resolveWildcards(root, p, false) : [p];
  if (targets.length === 0 && !a.allowNotFound)
    throw new KilnError('FILEOP_NOT_FOUND', `rm ${a.path}: no such file or directory`);
  for (const t of targets) {
    const r = resolveInRoot(root, t, false);
    if (!r.exists) {
      if (a.allowNotFound) continue;
      throw new KilnError('FILEOP_NOT_FOUND', `rm ${a.path}: no such file or directory`);
    }
    if (r.rel === '') throw new KilnError('FILEOP_INVALID_PATH', 'refusing to remove the root directory');
    rmSync(r.abs, { recursive: true, force: true });
  }
}

function symlink(root: string, a: Extract<FileAction, { action: 'symlink' }>, cwd: string): void {
  const { dir, name } = parentOf(root, absolute(cwd, a.newpath));
  symlinkSync(a.oldpath, `${dir}/${name}`);
  const o = owner(root, a.chown);
  if (o) lchownSync(`${dir}/${name}`, o.uid, o.gid);
}

export async function runFileOp(
  sn: Snapshotter,
  op: FileOp,
  inputs: BuildState[],
  ctx: JobContext,
): Promise<FsState> {
  const base = op.base === null ? SCRATCH : inputs[op.base];
  if (base.kind !== 'fs') throw new KilnError('GRAPH_INVALID_INPUT', 'a file op base must be a filesystem');
  const srcIdx = [
    ...new Set(op.actions.flatMap((a) => (a.action === 'copy' && a.src !== null ? [a.src] : []))),
  ];
  const active = `file-${randomUUID()}`;
  await sn.prepare(active, top(base));
  let committed = false;
  try {
    await withStatePaths(
      sn,
      srcIdx.map((i) => inputs[i]),
      async (srcDirs) => {
        await sn.withMounted(active, async (destRoot) => {
          for (const a of op.actions) {
            ctx.signal.throwIfAborted();
            if (a.action === 'copy') {
              const src = a.src === null ? undefined : inputs[a.src];
              const srcRoot = a.src === null ? undefined : srcDirs[srcIdx.indexOf(a.src)];
              if (!src || !srcRoot)
                throw new KilnError(
                  'FILEOP_NOT_FOUND',
                  `COPY from an empty filesystem: ${a.srcPaths.join(' ')} not found`,
                );
              await copy({
                srcRoot,
                srcPaths: a.srcPaths,
                destRoot,
                dest: absolute(op.cwd, a.dest),
                chown: a.chown,
                defaultOwner: src.kind === 'dir' ? { uid: 0, gid: 0 } : undefined,
                chmod: a.chmod,
                followSymlinks: a.followSymlinks,
                dirContentsOnly: a.dirContentsOnly,
                allowWildcard: a.allowWildcard,
                allowEmptyWildcard: a.allowEmptyWildcard,
                createDestPath: a.createDestPath,
                exclude: a.excludePatterns,
                srcExcludePatterns: src.kind === 'dir' ? src.excludePatterns : undefined,
                parents: a.parents,
                unpack: a.unpack,
              });
            } else if (a.action === 'mkdir') {
              const dir = absolute(op.cwd, a.path);
              if (!a.makeParents) {
                const parent = resolveInRoot(destRoot, posix.dirname(dir));
                if (!parent.exists)
                  throw new KilnError('FILEOP_NOT_FOUND', `mkdir ${a.path}: parent directory does not exist`);
              }
              mkdirAllInRoot(destRoot, dir, { mode: a.mode, owner: owner(destRoot, a.chown) });
            } else if (a.action === 'mkfile') mkfile(destRoot, a, op.cwd);
            else if (a.action === 'rm') rm(destRoot, a, op.cwd);
            else symlink(destRoot, a, op.cwd);
          }
        });
      },
    );
    const name = `snap-${randomUUID()}`;
    await sn.commit(name, active);
    committed = true;
    return { kind: 'fs', layers: [...base.layers, { snapshot: name, created: new Date().toISOString() }] };
  } finally {
    if (!committed) await sn.remove(active).catch(() => {});
  }
}
