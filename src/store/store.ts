/**
 * Opening the state root: the content store, the metadata DB and the image store over it, and
 * leases that keep a running operation's blobs safe from GC until it names them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore, leaseContext } from '../content/local/local.ts';
import { MetaDB } from '../content/local/meta.ts';
import { KilnError } from '../errors/errors.ts';
import { type CopyOptions, type CopyResult, copyImage } from '../image/copy.ts';
import type { ImageSource } from '../image/image.ts';
import { LocalImageSink, LocalImageStore } from '../imagestore/imagestore.ts';
import { checkRoot, resolveRoot } from './root.ts';

export interface Store {
  root: string;
  content: LocalContentStore;
  images: LocalImageStore;
  meta: MetaDB;
  /**
   * Run `fn` with a content store whose writes are held by a fresh lease; the lease is deleted
   * when `fn` settles (name what you keep before returning). Writes through `store.content` made
   * in `fn`'s async context are held too. `ttlMs` bounds a crashed holder.
   */
  withLease<T>(fn: (content: LocalContentStore) => Promise<T>, ttlMs?: number): Promise<T>;
  /** Copy an image from any source into the local store, naming the root `tag` when given. */
  importImage(src: ImageSource, opts?: CopyOptions): Promise<CopyResult>;
  close(): void;
}

/** Open (creating if needed) the state root chosen by `rootOpt`, KILN_ROOT or the default. */
export function openStore(rootOpt?: string): Store {
  const root = resolveRoot(rootOpt);
  checkRoot(root);
  try {
    mkdirSync(join(root, 'blobs'), { recursive: true, mode: 0o700 });
    mkdirSync(join(root, 'ingest'), { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new KilnError('STORE_ROOT', `cannot create the state root ${root}: ${(cause as Error).message}`, {
      cause,
      hint: 'choose a writable directory with --root or KILN_ROOT',
    });
  }
  const meta = new MetaDB(join(root, 'meta.db'));
  const content = new LocalContentStore(root, { meta });
  const images = new LocalImageStore(meta);
  const withLease = async <T>(
    fn: (c: LocalContentStore) => Promise<T>,
    ttlMs = 24 * 3600_000,
  ): Promise<T> => {
    const lease = meta.createLease({ ttlMs, lazy: true });
    try {
      return await leaseContext.run(lease.id, () => fn(content.withLease(lease.id)));
    } finally {
      content.releaseHolds(lease.id);
      meta.deleteLease(lease.id);
    }
  };
  return {
    root,
    content,
    images,
    meta,
    withLease,
    importImage: (src, opts) =>
      withLease((leased) => copyImage(src, new LocalImageSink(leased, images), opts)),
    close: () => meta.close(),
  };
}
