/** File operations (COPY/ADD/WORKDIR/mkfile/mkdir/rm/symlink) on a destination root directory. */
export { type ModeFn, parseChmod } from './chmod.ts';
export { type CopyOptions, copy } from './copy.ts';
export { type MkdirAllOptions, mkdirAllInRoot } from './dest.ts';
export {
  type MkdirOptions,
  type MkfileOptions,
  mkdir,
  mkfile,
  type RmOptions,
  rm,
  type SymlinkOptions,
  symlink,
  workdir,
} from './ops.ts';
export { type AddRemoteOptions, addRemote, type FetchedFile, fetchRemote } from './remote.ts';
export { type ArchiveKind, detectArchive, isTarHeader, sniffCompression, tryUnpack } from './unpack.ts';
export { type ChownSpec, type Owner, parseChown, resolveChown } from './user.ts';
