/**
 * A build context named by URL, as `docker build URL` and the Engine API's `remote=` take it:
 * a git repository (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://…`) is cloned;
 * an http(s) URL is downloaded and, if it is a tar (plain or gzip/bzip2/xz/zstd), extracted as
 * the context, else its text is the Dockerfile of an empty context (docker's rule, with
 * `text/plain` also meaning a Dockerfile). The server at the URL is hostile: the download is
 * bounded in bytes and in idle time, and the tar goes through the confined extractor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ByteLimit } from '../archive/compress.ts';
import { type ErrorCode, KilnError } from '../errors/errors.ts';
import { parseGitRef } from '../frontend/dockerfile/convert/sources.ts';
import { dockerfileTooLarge, MAX_DOCKERFILE_BYTES } from '../frontend/dockerfile/parser/index.ts';
import { cloneGit } from '../git/clone.ts';
import { contextFromTar, peek, sniffCompression } from './tarcontext.ts';

export interface RemoteContext {
  dir: string;
  /** Set when the URL held a Dockerfile rather than a context. */
  dockerfileText?: string;
  cleanup(): void;
}

export interface RemoteContextOptions {
  signal?: AbortSignal;
  /** Most bytes the download may have. */
  maxBytes: number;
  /** A download that sends nothing for this long fails (default 60 s). */
  idleMs?: number;
}

/** How a download's failures are named: codes, and what was downloaded ("the context"). */
export interface DownloadErrors {
  failed: ErrorCode;
  tooLarge: ErrorCode;
  what: string;
}

const CONTEXT_ERRORS: DownloadErrors = {
  failed: 'REMOTE_CONTEXT_FAILED',
  tooLarge: 'REMOTE_CONTEXT_TOO_LARGE',
  what: 'the context',
};

export async function fetchRemoteContext(url: string, opts: RemoteContextOptions): Promise<RemoteContext> {
  const git = parseGitRef(url);
  if (git) {
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-git-context-'));
    const cleanup = () => rmSync(tmp, { recursive: true, force: true });
    try {
      const dir = await cloneGit(
        { url: git.remote, ref: git.ref, subdir: git.subdir, keepGitDir: git.keepGitDir },
        tmp,
        opts.signal,
      );
      return { dir, cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  }
  return await download(url, opts);
}

function tooLarge(url: string, max: number, errors: DownloadErrors): KilnError {
  return new KilnError(errors.tooLarge, `${errors.what} at ${url} is larger than ${max} bytes`, {
    hint:
      errors === CONTEXT_ERRORS
        ? 'use a smaller context, or clone or download it and build from the directory'
        : 'download it yourself and COPY it from the context',
  });
}

export interface Download {
  stream: Readable;
  contentType: string;
  headers: Headers;
  /** Stop the idle timer (call when done with the stream). */
  close(): void;
}

/**
 * An http(s) download as a stream bounded in bytes (`maxBytes`) and in idle time, failing with
 * REMOTE_CONTEXT_FAILED / REMOTE_CONTEXT_TOO_LARGE.
 */
export async function openDownload(
  url: string,
  opts: RemoteContextOptions,
  errors: DownloadErrors = CONTEXT_ERRORS,
): Promise<Download> {
  const idleMs = opts.idleMs ?? 60_000;
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () =>
        idle.abort(
          new KilnError(errors.failed, `${url} sent nothing for ${idleMs / 1000} s`, {
            hint: 'check that the server is up, or download it and use the file',
          }),
        ),
      idleMs,
    );
  };
  const close = () => clearTimeout(timer);
  const signal = opts.signal ? AbortSignal.any([opts.signal, idle.signal]) : idle.signal;
  touch();
  try {
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'follow', signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new KilnError(errors.failed, `cannot download ${url}: ${(err as Error).message}`, {
        hint: 'check the URL is reachable from this machine',
        cause: err,
      });
    }
    if (!res.ok || !res.body)
      throw new KilnError(errors.failed, `cannot download ${url}: HTTP ${res.status} ${res.statusText}`, {
        hint: 'check the URL is reachable from this machine',
      });
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > opts.maxBytes) throw tooLarge(url, opts.maxBytes, errors);
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', touch);
    const limited = body.pipe(new ByteLimit(opts.maxBytes, (m) => tooLarge(url, m, errors)));
    body.on('error', (e) => limited.destroy(signal.aborted ? (signal.reason as Error) : e));
    limited.on('close', close);
    return {
      stream: limited,
      contentType: res.headers.get('content-type') ?? '',
      headers: res.headers,
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

async function download(url: string, opts: RemoteContextOptions): Promise<RemoteContext> {
  const dl = await openDownload(url, opts);
  try {
    const { head, stream } = await peek(dl.stream, 512);
    const text = dl.contentType.startsWith('text/plain');
    const isTar = sniffCompression(head) !== 'tar' || head.subarray(257, 262).toString('latin1') === 'ustar';
    if (isTar && !text) {
      const ctx = await contextFromTar(stream);
      return { dir: ctx.dir, cleanup: ctx.cleanup };
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stream) {
      n += (c as Buffer).length;
      if (n > MAX_DOCKERFILE_BYTES) {
        stream.destroy();
        throw dockerfileTooLarge(`the Dockerfile at ${url}`, n);
      }
      chunks.push(c as Buffer);
    }
    const dir = mkdtempSync(join(tmpdir(), 'kiln-context-'));
    return {
      dir,
      dockerfileText: Buffer.concat(chunks).toString('utf8'),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } finally {
    dl.close();
  }
}
