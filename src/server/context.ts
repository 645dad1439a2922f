/**
 * A /build request's context: the body (a tar, plain or gzip/bzip2/xz/zstd) bounded and
 * extracted by the same confined applier `kiln build -` uses, then the Dockerfile the `dockerfile`
 * parameter names and the .dockerignore that applies read inside it, symlinks resolved within the
 * context only: a context that points them at /etc/shadow or a FIFO reads nothing of the host.
 * Extraction hashes each file as it writes it, so the build does not read the context again to
 * checksum it. A context uploaded again is synced into the directory its last upload left
 * (context-pool.ts); a temp directory is removed in the background once the response is sent.
 */
import { lstatSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { readFileInRoot } from '../confine/fd.ts';
import { cleanComponents } from '../confine/resolve.ts';
import { forgetHanded } from '../context/handed.ts';
import { contextFromTar, type TarContext } from '../context/tarcontext.ts';
import { MAX_DOCKERFILE_BYTES } from '../frontend/dockerfile/parser/index.ts';
import { HttpError } from './api.ts';
import { limitedBody } from './body.ts';
import { type Lease, leaseContextDir } from './context-pool.ts';

/** A .dockerignore of more than this is refused (BuildKit sets no limit; patterns are small). */
const MAX_DOCKERIGNORE_BYTES = 1 << 20;

export interface ReceivedContext {
  dir: string;
  /** The Dockerfile's path inside the context, cleaned (for messages). */
  dockerfileName: string;
  dockerfileText: string;
  cleanup(): void;
}

export async function receiveContext(
  req: IncomingMessage,
  opts: {
    maxBody: number;
    signal: AbortSignal;
    dockerfile?: string;
    /** Sync into the directory kept for this key (context-pool.ts); none: a fresh temp directory. */
    key?: string;
    /** Where the directories are made: kiln's root/tmp, the snapshots' filesystem (COPY links). */
    tmpDir: string;
  },
): Promise<ReceivedContext> {
  const comps = cleanComponents(opts.dockerfile || 'Dockerfile');
  if (comps.length === 0)
    throw new HttpError(400, 'INVALID_QUERY', `dockerfile "${opts.dockerfile}" names no file in the context`);
  const dockerfileName = comps.join('/');
  const body = limitedBody(req, opts.maxBody, 'the build context');
  const lease: Lease = opts.key === undefined ? { done: () => {} } : leaseContextDir(opts.key, opts.tmpDir);
  let ctx: TarContext;
  try {
    ctx = await contextFromTar(addAbortSignal(opts.signal, body), { into: lease.dir, tmpDir: opts.tmpDir });
  } catch (err) {
    lease.done(false);
    throw err;
  }
  // A kept directory stays for the next upload; a temp one is removed in the background (the
  // next request need not wait for tens of thousands of unlinks).
  const cleanup = (): void => {
    if (lease.dir) {
      ctx.release();
      lease.done(true);
    } else ctx.discard();
  };
  try {
    const text = readFileInRoot(ctx.dir, dockerfileName, MAX_DOCKERFILE_BYTES);
    if (text === undefined)
      throw new HttpError(
        400,
        'DOCKERFILE_NOT_FOUND',
        `Cannot locate specified Dockerfile: ${dockerfileName}`,
        'the context must hold the Dockerfile as a regular file (docker build sends it when -f names one outside the context)',
      );
    useDockerignore(ctx.dir, dockerfileName);
    return { dir: ctx.dir, dockerfileName, dockerfileText: text.toString('utf8'), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * Leave at the context's top the one .dockerignore that applies (`<Dockerfile>.dockerignore`
 * first), as a regular file read within the context, where build() reads it: what was there
 * (a symlink out of the context, a FIFO) is replaced. The directory is this request's own.
 */
function useDockerignore(dir: string, dockerfileName: string): void {
  const own = readFileInRoot(dir, `${dockerfileName}.dockerignore`, MAX_DOCKERIGNORE_BYTES);
  const top = join(dir, '.dockerignore');
  const st = lstatSync(top, { throwIfNoEntry: false });
  if (own === undefined && (st === undefined || st.isFile())) return;
  const text = own ?? readFileInRoot(dir, '.dockerignore', MAX_DOCKERIGNORE_BYTES);
  forgetHanded(top);
  rmSync(top, { recursive: true, force: true });
  if (text !== undefined) writeFileSync(top, text, { flag: 'wx', mode: 0o644 });
}
