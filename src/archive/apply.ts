/**
 * Apply a layer blob onto a directory: whiteouts (deleted, or kept as overlayfs whiteouts for
 * an overlay lower dir), hardlinks, symlinks, devices, fifos, ownership, modes, mtimes, xattrs.
 * Every path is resolved under the target by ConfinedRoot; nothing outside it is written.
 *
 * Races: between our lstat checks and the writes that follow, nothing else writes to the
 * target — the directory is a fresh or exclusively leased snapshot and this function is its
 * only writer — so a check cannot be invalidated by another process before we use it.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, DigestStream } from '../digest/digest.ts';
import { KilnError } from '../errors/errors.ts';
import { inUserNamespace } from '../isolation/mode.ts';
import * as fs from '../sys/fs.ts';
import { nameByteLength, showName } from '../sys/fsname.ts';
import { mknodSync } from '../sys/mknod.ts';
import { boundTime, checkSymlinkTarget, entryFailure } from './apply-errors.ts';
import { type Compression, decompressAuto } from './compress.ts';
import { ConfinedRoot, memberComponents } from './confined.ts';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './entries.ts';
import {
  clearStaleParents,
  pruneUnwritten,
  readBody,
  removeSpecial,
  SYNC_COMPARE_MAX,
  sameBytes,
  writeNew,
} from './sync.ts';
import { readTar, type TarEntry } from './tar/reader.ts';
import { isPortableXattr, writeXattrs, type Xattrs } from './xattr.ts';

export interface ApplyOptions {
  /**
   * 'delete' (default): a whiteout removes the named path; an opaque marker clears what the
   * directory held before this layer. 'overlay': the target is this layer's own overlayfs lower
   * dir, so `.wh.x` becomes a 0/0 char device and `.wh..wh..opq` the trusted.overlay.opaque=y xattr.
   * 'none': a plain archive (ADD of a local tar, a build context): `.wh.` names are ordinary files.
   */
  whiteouts?: 'delete' | 'overlay' | 'none';
  /** With 'overlay': the lower dir is for an overlay mounted with `userxattr`: user.overlay.opaque. */
  userxattr?: boolean;
  /** Skip detection (magic bytes) and decompress as this. */
  compression?: Compression | 'none';
  /** lchown to the archive's uid/gid; default true when running as root. */
  sameOwner?: boolean;
  /**
   * Character and block devices: 'create' (default as root) or 'skip' (default otherwise: an
   * unprivileged process cannot mknod them, and rootless containerd skips them the same way).
   */
  devices?: 'create' | 'skip';
  /**
   * Filled with the sha256 of each regular file as its bytes are written, by host path (a
   * hardlink gets its target's): a context extracted once need not be read again to be hashed.
   * A path a later entry replaced by something else is dropped; directories a later entry
   * removed may leave entries behind, so a caller checks each path is still that file.
   */
  fileDigests?: Map<string, Digest>;
  /**
   * The target holds an earlier extraction of a similar archive (a build context uploaded
   * again): a regular file whose bytes, read back, equal the entry's is kept rather than written
   * anew (its mode and mtime are still set), and what the archive does not name is removed at
   * the end, so the target ends as a fresh extraction would (symlinks and special files an
   * earlier extraction left are removed first: entries never resolve through them). Only for
   * files up to SYNC_COMPARE_MAX (sync.ts); bigger ones are rewritten. Needs `whiteouts: 'none'`.
   */
  sync?: boolean;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  /** Size of the uncompressed tar in bytes. */
  size: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

function mknod(
  hostPath: string,
  entry: string,
  type: 'char' | 'block' | 'fifo',
  mode: number,
  major = 0,
  minor = 0,
): void {
  try {
    mknodSync(hostPath, type, mode, major, minor);
  } catch (cause) {
    // mknod's own message names the host path; the entry's name is what the user can look for.
    const stderr = (cause as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    const why = stderr.slice(stderr.lastIndexOf(': ') + 1).trim() || String(cause);
    throw new KilnError('LAYER_MKNOD_FAILED', `cannot create ${type} node "${showName(entry)}": ${why}`, {
      hint: 'device nodes need root (CAP_MKNOD)',
      cause,
    });
  }
}

function sameKind(st: fs.Stats, type: TarEntry['type']): boolean {
  switch (type) {
    case 'directory':
      return st.isDirectory();
    case 'symlink':
      return st.isSymbolicLink();
    case 'char':
      return st.isCharacterDevice();
    case 'block':
      return st.isBlockDevice();
    case 'fifo':
      return st.isFIFO();
    default:
      return st.isFile();
  }
}

/** Apply `source` (a layer blob, any compression) onto `target`. */
export async function applyLayer(
  source: Readable | AsyncIterable<Uint8Array>,
  target: string,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  return (await apply(source, target, options, true)) as ApplyResult;
}

/**
 * Extract an archive that is not a layer (a build context) as applyLayer does, without hashing
 * the archive as a whole: nothing asks for its digest, and a second pass of sha256 over every
 * byte of a 170 MB context was a good part of the extraction's CPU time.
 */
export async function extractArchive(
  source: Readable | AsyncIterable<Uint8Array>,
  target: string,
  options: ApplyOptions = {},
): Promise<void> {
  await apply(source, target, options, false);
}

async function apply(
  source: Readable | AsyncIterable<Uint8Array>,
  target: string,
  options: ApplyOptions,
  hashed: boolean,
): Promise<ApplyResult | undefined> {
  const mode = options.whiteouts ?? 'delete';
  const isRoot = process.getuid?.() === 0;
  const sameOwner = options.sameOwner ?? isRoot;
  // Root of a user namespace (rootless kiln's, a rootless container) may not mknod devices either.
  const devices = options.devices ?? (isRoot && !inUserNamespace() ? 'create' : 'skip');
  const root = new ConfinedRoot(target);
  if (options.sync && mode !== 'none') throw new Error('applyLayer: sync needs whiteouts "none"');
  // An empty target (a kept directory's first upload) is a fresh extraction: sync's checks of
  // what an earlier extraction left would find nothing, at a cost per entry.
  const startsEmpty = fs.readdirSync(target).length === 0;
  const sync = options.sync === true && !startsEmpty;
  if (sync) removeSpecial(root, []);
  const { stream } = await decompressAuto(source, options.compression);
  const digest = hashed ? new DigestStream() : undefined;
  if (digest) {
    stream.on('error', (err) => digest.destroy(err));
    stream.pipe(digest);
  }
  const tar: Readable = digest ?? stream;

  /**
   * Resolved paths (relative to the root, symlinks in parents followed) this layer wrote: an
   * opaque marker or whiteout must not remove them, however the entries spelled the path.
   */
  const written = new Set<string>();
  /**
   * Resolved directories this extraction created empty (the root too, when it starts empty):
   * a name below one that no entry has written yet cannot exist, so it is not looked up (an
   * lstat per file of a 20,000-file context).
   */
  const fresh = new Set<string>(startsEmpty ? [''] : []);
  /** sync: the inodes of files kept as they were (dev:ino). */
  const keptInodes = new Set<string>();
  const dirTimes: { comps: string[]; mtime: number }[] = [];
  const pendingXattrs: { comps: string[]; type: TarEntry['type']; xattrs: Xattrs }[] = [];

  // An archive may say any time; the kernel takes what int64 nanoseconds hold (containerd's bound).
  const setTimes = (hostPath: string, mtime: number): void => {
    const t = boundTime(mtime);
    fs.lutimesSync(hostPath, t, t);
  };

  const setMeta = (hostPath: string, e: TarEntry, isLink: boolean): void => {
    if (sameOwner) fs.lchownSync(hostPath, e.uid, e.gid);
    // chmod after chown: chown clears setuid/setgid. Symlinks have no mode of their own.
    if (!isLink) fs.chmodSync(hostPath, e.mode & 0o7777);
  };

  const applyEntry = async (e: TarEntry): Promise<void> => {
    const comps = memberComponents(e.path, 'entry');
    const name = comps[comps.length - 1] ?? '';
    const parent = comps.slice(0, -1);

    if (mode !== 'none' && name.startsWith(WHITEOUT_PREFIX)) {
      if (name === OPAQUE_WHITEOUT) {
        const dir = root.resolveDir(parent, mode === 'overlay');
        if (!dir) return;
        if (mode === 'overlay') {
          pendingXattrs.push({
            comps: parent,
            type: 'directory',
            xattrs: {
              [options.userxattr ? 'user.overlay.opaque' : 'trusted.overlay.opaque']: Buffer.from('y'),
            },
          });
        } else {
          const prefix = dir.join('/');
          for (const child of fs.readdirSync(root.host(dir))) {
            const logical = prefix ? `${prefix}/${child}` : child;
            if (!written.has(logical)) root.remove(path.join(root.host(dir), child));
          }
        }
        return;
      }
      // Other `.wh..wh.` names are aufs bookkeeping (hardlink dirs), not whiteouts: ignored.
      if (name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
      const victim = name.slice(WHITEOUT_PREFIX.length);
      if (victim === '' || victim === '.' || victim === '..') {
        throw new KilnError('LAYER_UNSAFE_PATH', `layer whiteout "${showName(e.path)}" names no valid file`);
      }
      const dir = root.resolveDir(parent, mode === 'overlay');
      if (!dir) return;
      const hostPath = path.join(root.host(dir), victim);
      const logical = [...dir, victim].join('/');
      if (written.has(logical)) return; // whiteouts hide lower layers, not this one
      root.remove(hostPath);
      if (mode === 'overlay') {
        mknod(hostPath, e.path, 'char', 0, 0, 0);
        written.add(logical);
      }
      return;
    }

    const xattrs: Xattrs = {};
    for (const [k, v] of Object.entries(e.xattrs)) if (isPortableXattr(k)) xattrs[k] = v;
    const hasXattrs = Object.keys(xattrs).length > 0;

    if (comps.length === 0) {
      // The root itself ("./"): only directory metadata applies.
      if (e.type === 'directory') {
        setMeta(root.root, e, false);
        dirTimes.push({ comps: [], mtime: e.mtime });
        if (hasXattrs) pendingXattrs.push({ comps: [], type: 'directory', xattrs });
        return;
      }
      throw new KilnError(
        'LAYER_UNSAFE_PATH',
        `layer entry "${showName(e.path)}" of type ${e.type} would replace the root`,
      );
    }

    if (sync) clearStaleParents(root, parent, written);
    const dir = root.resolveDir(parent, true) as string[];
    const hostPath = path.join(root.host(dir), name);
    const key = [...dir, name].join('/');
    const existing = fresh.has(dir.join('/')) && !written.has(key) ? undefined : root.lstat(hostPath);
    const digests = options.fileDigests;
    digests?.delete(hostPath);
    // The entry and its ancestors (possibly created implicitly) are this layer's own.
    written.add(key);
    for (let i = dir.length; i > 0; i--) {
      const p = dir.slice(0, i).join('/');
      if (written.has(p)) break;
      written.add(p);
    }
    if (hasXattrs && e.type !== 'hardlink') pendingXattrs.push({ comps, type: e.type, xattrs });

    switch (e.type) {
      case 'directory': {
        if (!existing?.isDirectory()) {
          if (existing) root.remove(hostPath, existing);
          fs.mkdirSync(hostPath, 0o700);
          fresh.add(key);
        }
        setMeta(hostPath, e, false);
        dirTimes.push({ comps, mtime: e.mtime });
        break;
      }
      case 'file': {
        // A file with other links is compared too: COPY hard-links a kept context's files into
        // its layers (fileops/copy.ts). But one inode is kept once: a second name for it here
        // is an earlier upload's hardlink, which a fresh extraction would not make.
        const inode = existing?.isFile() ? `${existing.dev}:${existing.ino}` : '';
        if (
          sync &&
          existing?.isFile() &&
          (existing.nlink === 1 || !keptInodes.has(inode)) &&
          existing.size === e.size &&
          e.size <= SYNC_COMPARE_MAX
        ) {
          const body = await readBody(e);
          // A kept file whose mode and mtime already match needs neither call (20,000 of them
          // were a good part of a re-upload).
          const modeSame = (existing.mode & 0o7777) === (e.mode & 0o7777);
          const timeSame = Math.round(existing.mtimeMs * 1000) === Math.round(boundTime(e.mtime) * 1e6);
          // A shared inode is never changed in place (it is a committed layer's file too): one
          // whose bytes or metadata differ is replaced by a new file.
          const same = sameBytes(hostPath, body) && (existing.nlink === 1 || (modeSame && timeSame));
          if (!same) {
            if (existing) root.remove(hostPath, existing);
            writeNew(hostPath, body);
          } else keptInodes.add(inode);
          digests?.set(hostPath, `sha256:${createHash('sha256').update(body).digest('hex')}`);
          if (!same || !modeSame) setMeta(hostPath, e, false);
          if (!same || !timeSame) setTimes(hostPath, e.mtime);
          break;
        }
        if (existing) root.remove(hostPath, existing);
        const fd = fs.openSync(hostPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        const h = digests ? createHash('sha256') : undefined;
        try {
          for await (const chunk of e.body()) {
            h?.update(chunk);
            for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          }
        } finally {
          fs.closeSync(fd);
        }
        if (h) digests?.set(hostPath, `sha256:${h.digest('hex')}`);
        setMeta(hostPath, e, false);
        setTimes(hostPath, e.mtime);
        break;
      }
      case 'symlink': {
        checkSymlinkTarget(e.path, e.linkname, nameByteLength(e.linkname));
        if (existing) root.remove(hostPath, existing);
        // The target is only data here; later entries beneath it are resolved inside the root.
        fs.symlinkSync(e.linkname, hostPath);
        setMeta(hostPath, e, true);
        setTimes(hostPath, e.mtime);
        break;
      }
      case 'hardlink': {
        const linkComps = memberComponents(e.linkname, 'hardlink target');
        const linkDir = linkComps.length ? root.resolveDir(linkComps.slice(0, -1), false) : undefined;
        const linkHost = linkDir ? path.join(root.host(linkDir), linkComps[linkComps.length - 1]) : undefined;
        const linkSt = linkHost ? root.lstat(linkHost) : undefined;
        if (!linkHost || !linkSt || linkSt.isDirectory()) {
          throw new KilnError(
            'LAYER_INVALID_LINK',
            `hardlink "${showName(e.path)}" points to "${showName(e.linkname)}", which is not a file in the layer`,
            {
              hint: 'a hardlink may only name a non-directory already extracted under the target',
            },
          );
        }
        const linked = digests?.get(linkHost);
        if (linked) digests?.set(hostPath, linked);
        if (existing && existing.ino === linkSt.ino && existing.dev === linkSt.dev) break;
        if (existing) root.remove(hostPath, existing);
        // link(2) on Linux does not follow a symlink given as the target.
        fs.linkSync(linkHost, hostPath);
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (e.type !== 'fifo' && devices === 'skip') break;
        if (existing) root.remove(hostPath, existing);
        // mknod(1) takes permission bits only; setMeta's chmod adds setuid, setgid and sticky.
        mknod(hostPath, e.path, e.type, e.mode & 0o777, e.devmajor, e.devminor);
        setMeta(hostPath, e, false);
        setTimes(hostPath, e.mtime);
        break;
      }
    }
  };

  for await (const e of readTar(tar)) {
    try {
      await applyEntry(e);
    } catch (err) {
      throw entryFailure(err, e.path, root.root);
    }
  }

  if (sync) {
    // A directory no entry names (made for an entry beneath it) has the mode a fresh one gets.
    const explicit = new Set(dirTimes.map((d) => d.comps.join('/')));
    pruneUnwritten(root, [], written, explicit);
  }

  // Deferred work, re-resolved because later entries may have replaced a parent with a symlink.
  const resolveFinal = (comps: string[]): { hostPath: string; st: fs.Stats } | undefined => {
    if (comps.length === 0) return { hostPath: root.root, st: fs.lstatSync(root.root) };
    const dir = root.resolveDir(comps.slice(0, -1), false);
    if (!dir) return undefined;
    const hostPath = path.join(root.host(dir), comps[comps.length - 1]);
    const st = root.lstat(hostPath);
    return st ? { hostPath, st } : undefined;
  };
  // A failure here names the entry's path (as resolved) and is a KilnError like any other.
  const forEntry = (comps: string[], work: () => void): void => {
    try {
      work();
    } catch (err) {
      throw entryFailure(err, comps.join('/') || '.', root.root);
    }
  };
  const xattrItems: { path: string; xattrs: Xattrs }[] = [];
  for (const { comps, type, xattrs } of pendingXattrs) {
    forEntry(comps, () => {
      const r = resolveFinal(comps);
      // Only onto the object this layer made there (a later entry may have replaced it).
      if (r && sameKind(r.st, type)) xattrItems.push({ path: r.hostPath, xattrs });
    });
  }
  await writeXattrs(xattrItems, root.root);
  // Directory mtimes last: creating their children changed them.
  for (const { comps, mtime } of dirTimes.reverse()) {
    forEntry(comps, () => {
      const r = resolveFinal(comps);
      if (r?.st.isDirectory()) setTimes(r.hostPath, mtime);
    });
  }
  await new Promise<void>((resolve, reject) => {
    if (tar.readableEnded) resolve();
    else {
      tar.on('end', resolve);
      tar.on('error', reject);
      tar.resume();
    }
  });
  return digest ? { diffID: digest.digest(), size: digest.size } : undefined;
}
