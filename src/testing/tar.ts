/**
 * A tar's bytes in memory, for tests and fixtures that build small archives (layers, rootfs
 * tarballs, contexts) with the real TarWriter.
 */
import { TarWriter } from '../archive/tar/writer.ts';

/** The bytes of the tar `fill` adds entries to (finished here). */
export async function tarBytes(fill: (w: TarWriter) => Promise<void>): Promise<Buffer> {
  const w = new TarWriter();
  const collected = w.toArray();
  // Awaited below; a writer error must not surface as an unhandled rejection meanwhile.
  collected.catch(() => {});
  await fill(w);
  await w.finish();
  return Buffer.concat(await collected);
}
