/**
 * `RUN --mount=type=cache` contents that travel with the cache (`cache-mounts=true`): a cache
 * id's directory is exported as one layer, and on import a layer is unpacked into the id's
 * directory when this root has nothing there yet (local contents are newer than any import).
 * The unpack goes to a fresh directory beside it, confined, bounded in bytes and checked
 * against the recorded diffID, and is renamed into place only when whole.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream';
import type { BlobProvider, Ingester } from '../../content/content.ts';
import type { Digest } from '../../digest/digest.ts';
import { isErrno, KilnError } from '../../errors/errors.ts';
import { cacheMountDir } from '../../executor/run-mounts.ts';
import type { Compression } from '../../oci/mediatypes.ts';
import type { CacheLayer } from './record.ts';

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** The directory's own owner and mode, which a restore gives the directory it makes. */
export interface MountDirMeta {
  uid: number;
  gid: number;
  mode: number;
}

/** The cache id's contents as a layer in the content store, or undefined when empty or absent. */
export async function exportMount(
  stateRoot: string,
  id: string,
  compression: Compression,
  content: Ingester,
): Promise<(CacheLayer & { dir: MountDirMeta }) | undefined> {
  const dir = cacheMountDir(stateRoot, id);
  const names = await entriesOf(dir);
  if (!names?.length) return undefined;
  const st = await lstat(dir);
  const { createLayer, directoryEntries } = await import('../../archive/layer.ts');
  const layer = createLayer(await directoryEntries(dir), { compression, presorted: true });
  const [made, kept] = await Promise.allSettled([layer.info, content.ingest(layer.stream)]);
  if (kept.status === 'rejected') throw kept.reason;
  if (made.status === 'rejected') throw made.reason;
  const info = made.value;
  return {
    digest: info.digest,
    diffID: info.diffID,
    size: info.size,
    mediaType: info.mediaType,
    uncompressedSize: info.uncompressedSize,
    dir: { uid: st.uid, gid: st.gid, mode: st.mode & 0o1777 },
  };
}

/**
 * Fill the cache id's directory from `layer` (already in `content`, verified) unless it holds
 * something. Returns whether it was restored. `maxBytes` caps the unpacked size.
 */
export async function restoreMount(
  stateRoot: string,
  id: string,
  layer: CacheLayer,
  content: BlobProvider,
  maxBytes: number,
  meta: Partial<MountDirMeta> = {},
): Promise<boolean> {
  const dir = cacheMountDir(stateRoot, id);
  const names = await entriesOf(dir);
  if (names?.length) return false;
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const staging = join(dirname(dir), `import-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { mode: 0o755 });
  try {
    const { ByteLimit, decompressAuto } = await import('../../archive/compress.ts');
    const { applyLayer } = await import('../../archive/apply.ts');
    const { stream } = await decompressAuto(await content.openRead(layer.digest as Digest));
    const limited = pipeline(
      stream,
      new ByteLimit(
        maxBytes,
        (max) =>
          new KilnError(
            'LAYER_TOO_LARGE',
            `cache mount layer ${layer.digest} unpacks to more than ${max} bytes`,
          ),
      ),
      () => {},
    );
    // A plain archive: `.wh.` names are ordinary files here, never deletions.
    const applied = await applyLayer(limited, staging, { whiteouts: 'none', compression: 'none' });
    if (applied.diffID !== layer.diffID)
      throw new KilnError(
        'DIGEST_MISMATCH',
        `cache mount layer ${layer.digest} unpacks to ${applied.diffID}, but the record says ${layer.diffID}`,
      );
    // The directory as the exporting machine had it (RUN --mount=…,uid=,gid=,mode= made it so).
    await chown(staging, meta.uid ?? 0, meta.gid ?? 0);
    await chmod(staging, meta.mode ?? 0o755);
    // An empty directory left by an earlier RUN is replaced; one another build filled since stays.
    if (names) await rmdir(dir).catch(() => {});
    try {
      await rename(staging, dir);
    } catch (err) {
      if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) return false;
      throw err;
    }
    return true;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
