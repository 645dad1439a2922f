/**
 * ADD from an http(s) URL: download to a private temp directory (mode 0600, mtime from
 * Last-Modified, name from Content-Disposition or the URL path), verify `--checksum`, then
 * copy it like a local file. Archives are not extracted unless `unpack` is set. The URL is the
 * Dockerfile's (hostile): the download is bounded in bytes and in idle time, as a URL context's.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { openDownload } from '../context/remote.ts';
import { type Digest, digestMismatch, parseDigest } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { chmodSync, createWriteStream, rmSync, utimesSync } from '../sys/fs.ts';
import { decodeName, decodePercent } from '../sys/fsname.ts';
import { type CopyOptions, copy } from './copy.ts';

export interface FetchedFile {
  dir: string;
  name: string;
  digest: Digest;
  mtime: Date;
  size: number;
}

/** The file's name (bytes, like every name: a %ff is the byte 0xff, as Go's PathUnescape has it). */
function fileNameFor(url: URL, disposition: string | null): string {
  const m = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null;
  // Header values arrive as one character per byte.
  const raw = m ? decodeName(Buffer.from(m[1], 'latin1')) : (url.pathname.split('/').pop() ?? '');
  let name = decodePercent(raw);
  name = name.split('/').pop() ?? '';
  if (name === '' || name === '.' || name === '..') name = 'download';
  return name;
}

/** Most bytes an ADD download may have, unless the build says (BuildOptions.maxRemoteContextBytes). */
export const MAX_ADD_DOWNLOAD_BYTES = 16 * 1024 ** 3;

/** Download `url` into a new temp dir. The caller removes `dir`. */
export async function fetchRemote(
  url: string,
  opts: { checksum?: string; signal?: AbortSignal; maxBytes?: number; idleMs?: number } = {},
): Promise<FetchedFile> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new KilnError('ADD_URL_UNSUPPORTED', `unsupported URL scheme in ${url}`, {
      hint: 'ADD downloads http:// and https:// URLs',
    });
  }
  const expected = opts.checksum ? parseDigest(opts.checksum) : undefined;
  const res = await openDownload(
    u.href,
    { signal: opts.signal, maxBytes: opts.maxBytes ?? MAX_ADD_DOWNLOAD_BYTES, idleMs: opts.idleMs },
    { failed: 'ADD_DOWNLOAD_FAILED', tooLarge: 'ADD_DOWNLOAD_TOO_LARGE', what: "ADD's download" },
  );
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'kiln-add-'));
    const name = fileNameFor(u, res.headers.get('content-disposition'));
    const file = join(dir, name);
    const h = createHash(expected?.startsWith('sha512:') ? 'sha512' : 'sha256');
    let size = 0;
    const body = res.stream;
    body.on('data', (c: Buffer) => {
      h.update(c);
      size += c.length;
    });
    await pipeline(body, createWriteStream(file, { mode: 0o600 }));
    const digest = `${expected?.startsWith('sha512:') ? 'sha512' : 'sha256'}:${h.digest('hex')}` as Digest;
    if (expected && expected !== digest) {
      throw digestMismatch(url, expected, digest, { code: 'ADD_CHECKSUM_MISMATCH' });
    }
    chmodSync(file, 0o600);
    const lm = res.headers.get('last-modified');
    const parsed = lm ? new Date(lm) : undefined;
    const mtime = parsed && !Number.isNaN(parsed.getTime()) ? parsed : new Date();
    utimesSync(file, mtime, mtime);
    return { dir, name, digest, mtime, size };
  } catch (e) {
    res.stream.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    res.close();
  }
}

export type AddRemoteOptions = Omit<
  CopyOptions,
  'srcRoot' | 'srcPaths' | 'allowWildcard' | 'parents' | 'exclude'
> & {
  checksum?: string;
};

/** ADD <url> <dest>: download, verify, copy into destRoot. Returns what was fetched. */
export async function addRemote(url: string, opts: AddRemoteOptions): Promise<Omit<FetchedFile, 'dir'>> {
  const f = await fetchRemote(url, { checksum: opts.checksum });
  try {
    await copy({
      ...opts,
      srcRoot: f.dir,
      srcPaths: [f.name],
      allowWildcard: false,
      defaultOwner: opts.defaultOwner ?? { uid: 0, gid: 0 },
    });
    const { dir: _dir, ...rest } = f;
    return rest;
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
}
