/**
 * The inputs of a build on the host: the context directory (or a tar read from stdin into a
 * temp dir), the Dockerfile text and path, the .dockerignore patterns that apply, and the
 * named extra contexts. Nothing here is sent anywhere: kiln reads the context in place.
 */
import { open, readlink, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { openInRoot } from '../confine/fd.ts';
import { hasCode, isErrno, KilnError } from '../errors/errors.ts';
import { parseGitRef } from '../frontend/dockerfile/convert/sources.ts';
import { dockerfileTooLarge, MAX_DOCKERFILE_BYTES } from '../frontend/dockerfile/parser/index.ts';
import { selectDockerignore } from '../frontend/dockerignore/index.ts';
import type { ImageSource } from '../image/image.ts';
import { checkLocalContext, classifyNamedContext, layoutImageRef, ociLayoutImage } from './named-contexts.ts';
import type { BuildOptions } from './options.ts';

export interface BuildInput {
  contextDir: string;
  /** Path shown in error locations. */
  dockerfilePath: string;
  dockerfileText: string;
  dockerignore: string[];
  /** Bytes of the .dockerignore file that applies (0 when there is none), for progress. */
  dockerignoreSize: number;
  /** Local source name → directory ('context' is the main one). */
  contexts: Record<string, string>;
  /**
   * Local sources whose directory kiln extracted itself and never writes in place (a context
   * tar from stdin or a URL, kiln serve's upload): COPY may hard-link their files.
   */
  extracted: string[];
  /**
   * `--build-context` values as the frontend reads them: `docker-image://REF`, a git or http(s)
   * URL, or a local directory (then also in `contexts`); an oci-layout:// context becomes
   * `docker-image://` of the image in `layoutImages`.
   */
  namedContexts: Record<string, string>;
  /** Images that oci-layout:// contexts bring, by the pinned name the frontend resolves. */
  layoutImages: { ref: string; source: ImageSource }[];
  cleanup(): Promise<void>;
}

/** A Dockerfile from stdin, refused once it passes the parser's size cap (not read to the end). */
async function readStdin(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stdin) {
    chunks.push(Buffer.from(c as Buffer));
    n += (c as Buffer).length;
    if (n > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge('the Dockerfile on stdin', n);
  }
  return Buffer.concat(chunks);
}

/**
 * A Dockerfile from disk: a regular file within the size cap (a FIFO would block the read for
 * ever and a device such as /dev/zero never end), read no further than the cap.
 */
async function readDockerfile(path: string): Promise<string> {
  const st = await stat(path);
  if (!st.isFile()) {
    throw new KilnError('DOCKERFILE_NOT_FILE', `Dockerfile ${path} is not a regular file`, {
      hint: 'point -f at a regular file',
    });
  }
  if (st.size > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge(path, st.size);
  const fh = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const { bytesRead, buffer } = await fh.read(
        Buffer.alloc(Math.max(st.size + 1, 1 << 16)),
        0,
        undefined,
        null,
      );
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      n += bytesRead;
      if (n > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge(path, n);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** `<context>/Dockerfile`, resolved and read inside the context (a regular file within the cap). */
async function readContextDockerfile(contextDir: string, path: string, name = 'Dockerfile'): Promise<string> {
  let h: ReturnType<typeof openInRoot>;
  try {
    h = openInRoot(contextDir, name);
  } catch (err) {
    if (!hasCode(err, 'PATH_NOT_FOUND')) throw err;
    // A symlink named Dockerfile whose target is not in the context (`-> /dev/zero`) would
    // otherwise read as "not found" while `ls` shows it there: say what it points at.
    const target = await readlink(path).catch(() => undefined);
    if (target === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    throw new KilnError(
      'DOCKERFILE_NOT_FOUND',
      `Dockerfile ${path} is a symlink to ${JSON.stringify(target)}, which is not in the context`,
      { hint: 'symlinks in the context resolve inside it; copy the Dockerfile in, or name it with -f PATH' },
    );
  }
  try {
    if (!h.stat.isFile()) {
      throw new KilnError('DOCKERFILE_NOT_FILE', `Dockerfile ${path} is not a regular file`, {
        hint: 'point -f at a regular file',
      });
    }
    // /proc/self/fd/N reaches the inode that was checked, whatever the name leads to now.
    return await readDockerfile(h.path);
  } finally {
    h.close();
  }
}

/** A remote context is downloaded into a temp dir; more than this is refused (serve sets its own). */
const MAX_REMOTE_CONTEXT_BYTES = 16 * 1024 ** 3;

/** Whether `docker build` takes `context` as a URL (a git repository or an http(s) download). */
export function isRemoteContext(context: string): boolean {
  return (
    parseGitRef(context) !== undefined || context.startsWith('http://') || context.startsWith('https://')
  );
}

/** `stdin` is a getter: process.stdin builds a stream (and loads node:net) on first access. */
export async function loadBuildInput(
  opts: BuildOptions,
  stdin: () => NodeJS.ReadableStream,
  /** Where a context tar from stdin is extracted (default: the system's temp directory). */
  tmpDir?: string,
): Promise<BuildInput> {
  // What a context from stdin or a URL leaves (its directory, the digests handed for it).
  const cleanups: (() => void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups) c();
  };
  let remote = false;
  let extracted = opts.contextExtracted === true;
  let remoteDockerfile: string | undefined;
  try {
    let contextDir: string;
    if (opts.context === '-') {
      if (opts.dockerfile === '-') {
        throw new KilnError(
          'INVALID_BUILD_INPUT',
          'the context and the Dockerfile cannot both come from stdin',
        );
      }
      const { contextFromTar } = await import('../context/tarcontext.ts');
      const tar = Readable.from(stdin() as AsyncIterable<Buffer>);
      const ctx = await contextFromTar(opts.signal ? addAbortSignal(opts.signal, tar) : tar, { tmpDir });
      contextDir = ctx.dir;
      extracted = true;
      cleanups.push(ctx.cleanup);
    } else if (isRemoteContext(opts.context)) {
      const { fetchRemoteContext } = await import('../context/remote.ts');
      const ctx = await fetchRemoteContext(opts.context, {
        signal: opts.signal,
        maxBytes: opts.maxRemoteContextBytes ?? MAX_REMOTE_CONTEXT_BYTES,
      });
      cleanups.push(ctx.cleanup);
      remote = true;
      extracted = true;
      contextDir = ctx.dir;
      remoteDockerfile = ctx.dockerfileText;
    } else {
      contextDir = resolve(opts.context);
      const st = await stat(contextDir).catch((err) => {
        if (isErrno(err, 'ENOENT')) {
          throw new KilnError('CONTEXT_NOT_FOUND', `build context "${opts.context}" does not exist`, {
            hint: 'pass a directory (e.g. `.`) or `-` to read a tar from stdin',
          });
        }
        throw err;
      });
      if (!st.isDirectory()) {
        throw new KilnError('CONTEXT_NOT_DIRECTORY', `build context "${opts.context}" is not a directory`, {
          hint: 'pass a directory; to use a tar archive as context, pipe it: kiln build - < context.tar',
        });
      }
    }
    let dockerfilePath: string;
    let dockerfileText: string;
    if (opts.graph) {
      // An image from the TypeScript builder: there is no build file to read.
      dockerfilePath = '<builder>';
      dockerfileText = '';
    } else if (opts.dockerfileText !== undefined) {
      dockerfilePath = opts.dockerfile && opts.dockerfile !== '-' ? opts.dockerfile : 'Dockerfile';
      dockerfileText = opts.dockerfileText;
    } else if (opts.dockerfile === '-') {
      dockerfilePath = 'Dockerfile';
      dockerfileText = (await readStdin(stdin())).toString('utf8');
    } else if (remoteDockerfile !== undefined) {
      // docker build URL-of-a-Dockerfile: the text is the Dockerfile, the context is empty.
      dockerfilePath = 'Dockerfile';
      dockerfileText = remoteDockerfile;
    } else if (remote && opts.dockerfile) {
      // -f with a remote context names a file of that context, read inside it (as docker does).
      dockerfilePath = opts.dockerfile;
      dockerfileText = await readContextDockerfile(contextDir, opts.dockerfile, opts.dockerfile).catch(
        (err) => {
          if (isErrno(err, 'ENOENT'))
            throw new KilnError(
              'DOCKERFILE_NOT_FOUND',
              `Dockerfile not found in the context: ${opts.dockerfile}`,
              {
                hint: 'with a URL as the context, -f names a file inside it',
              },
            );
          throw err;
        },
      );
    } else {
      dockerfilePath = opts.dockerfile
        ? isAbsolute(opts.dockerfile)
          ? opts.dockerfile
          : resolve(opts.dockerfile)
        : join(contextDir, 'Dockerfile');
      // The context's own Dockerfile is the context's (hostile, in a tar above all): read inside
      // it, never through a symlink leading out, as BuildKit reads it from the context mount.
      const read = opts.dockerfile
        ? readDockerfile(dockerfilePath)
        : readContextDockerfile(contextDir, dockerfilePath);
      dockerfileText = await read.catch((err) => {
        if (isErrno(err, 'ENOENT')) {
          throw new KilnError('DOCKERFILE_NOT_FOUND', `Dockerfile not found: ${dockerfilePath}`, {
            hint: 'name it with -f PATH, or put a Dockerfile at the root of the context',
          });
        }
        throw err;
      });
    }
    const ignore = selectDockerignore(
      contextDir,
      opts.dockerfile && opts.dockerfile !== '-' && !remote ? dockerfilePath : undefined,
    );
    const dockerignoreSize = ignore.bytes ?? 0;
    const contexts: Record<string, string> = { context: contextDir };
    const namedContexts: Record<string, string> = {};
    const layoutImages: BuildInput['layoutImages'] = [];
    for (const [name, value] of Object.entries(opts.buildContexts)) {
      const spec = classifyNamedContext(name, value);
      if (spec.kind === 'local') {
        await checkLocalContext(name, spec.dir);
        contexts[name] = spec.dir;
        namedContexts[name] = spec.dir;
      } else if (spec.kind === 'oci-layout') {
        const source = await ociLayoutImage(name, spec);
        const ref = layoutImageRef(name, source.root.digest);
        layoutImages.push({ ref, source });
        namedContexts[name] = `docker-image://${ref}`;
      } else namedContexts[name] = value;
    }
    return {
      contextDir,
      dockerfilePath,
      dockerfileText,
      dockerignore: ignore.patterns,
      dockerignoreSize,
      contexts,
      extracted: extracted ? ['context'] : [],
      namedContexts,
      layoutImages,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
