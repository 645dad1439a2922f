/** Build contexts: filtered walks, content checksums, tar contexts. */
export {
  type ChecksumOptions,
  checksum,
  type ExpandedSource,
  expandSources,
  fileDigest,
  hashFileContent,
} from './checksum.ts';
export { DigestCache, type FileIdentity } from './digestcache.ts';
export { dedupePaths, followLinks } from './follow.ts';
export { containsWildcards, resolveWildcards } from './resolve.ts';
export { type ArchiveKind, contextFromTar, sniffCompression, type TarContext } from './tarcontext.ts';
export {
  DirFS,
  type EntryType,
  FilterFS,
  type FilterOptions,
  statEntry,
  type WalkEntry,
  type WalkFn,
  type WalkFS,
  walkContext,
} from './walk.ts';
