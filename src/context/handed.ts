/**
 * Content digests handed over by whoever extracted a context from a tar (tarcontext.ts): the
 * applier hashed each regular file as it wrote it, so the build's checksum of that context need
 * not read the files again. A tar context lives in a new directory, so the persistent DigestCache
 * (keyed by inode and mtime) never hits there; re-hashing 20,000 files was most of a warm build
 * through `kiln serve`.
 *
 * Each digest is bound to the identity the file had once extraction finished (size, mtime, inode,
 * mode, as a walk sees them): a file changed since, or a path another entry replaced, no longer
 * matches and is hashed as usual. Nothing else writes to the private directory before the build
 * reads it; its owner forgets a file it replaces there (forgetHanded): a file rewritten with the
 * same size and mtime may get the freed inode back, and would then match. Files under a handed directory are never put in the persistent cache: the directory
 * goes away after the build.
 */
import type { Digest } from '../digest/digest.ts';
import { lstatSync } from '../sys/fs.ts';
import type { FileIdentity } from './digestcache.ts';

interface Handed extends FileIdentity {
  digest: Digest;
}

/** At most this many directories are remembered (a server forgets the oldest: only speed is lost). */
const MAX_DIRS = 64;
/** Directory prefix (ending in '/') → root-relative path → digest and identity. */
const dirs = new Map<string, Map<string, Handed>>();

/**
 * Bind `digests` (by host path under `hostRoot`, the directory's real path, as the applier filled
 * them) to the files' current identities and keep them for checksums of `dir` (the path the
 * build is given). Returns the function that forgets them.
 */
export function handDigests(dir: string, hostRoot: string, digests: ReadonlyMap<string, Digest>): () => void {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const hostPrefix = hostRoot.endsWith('/') ? hostRoot : `${hostRoot}/`;
  const files = new Map<string, Handed>();
  for (const [host, digest] of digests) {
    if (!host.startsWith(hostPrefix)) continue;
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    files.set(host.slice(hostPrefix.length), {
      size: st.size,
      mtimeUs: Math.round(st.mtimeMs * 1000),
      ino: st.ino,
      mode: st.mode,
      digest,
    });
  }
  dirs.delete(prefix);
  dirs.set(prefix, files);
  while (dirs.size > MAX_DIRS) dirs.delete(dirs.keys().next().value as string);
  return () => {
    if (dirs.get(prefix) === files) dirs.delete(prefix);
  };
}

/**
 * The handed digest of `abs` when its identity is the one extraction left; `null` when `abs` is
 * under a handed directory but has none (hash it, do not cache it); undefined otherwise.
 */
export function handedDigest(abs: string, id: FileIdentity): Digest | null | undefined {
  if (dirs.size === 0) return undefined;
  for (const [prefix, files] of dirs) {
    if (!abs.startsWith(prefix)) continue;
    const f = files.get(abs.slice(prefix.length));
    if (!f || f.size !== id.size || f.mtimeUs !== id.mtimeUs || f.ino !== id.ino || f.mode !== id.mode)
      return null;
    return f.digest;
  }
  return undefined;
}

/** Forget the handed digest of one file (its owner is about to replace it). */
export function forgetHanded(abs: string): void {
  for (const [prefix, files] of dirs) if (abs.startsWith(prefix)) files.delete(abs.slice(prefix.length));
}
