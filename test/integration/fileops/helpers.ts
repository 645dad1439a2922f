/** Tree builders and inspectors shared by the file-op integration tests. */
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type CopyOptions, copy } from '../../../src/fileops/index.ts';

/**
 * Dockerfile COPY's options (BuildKit dockerfile2llb): contents of dirs, follow the named
 * symlink, wildcards allowed, dest parents created. The owner is each test's: a context's files
 * are 0:0 (`defaultOwner`), a COPY --from keeps the source's.
 */
export const DOCKERFILE_COPY: Partial<CopyOptions> = {
  dirContentsOnly: true,
  followSymlinks: true,
  allowWildcard: true,
  allowEmptyWildcard: false,
  createDestPath: true,
};

/** A Dockerfile COPY of the whole of `src` into /app/ of `dest`, attributes included. */
export function copyToApp(src: string, dest: string, more: Partial<CopyOptions> = {}): Promise<void> {
  return copy({
    ...DOCKERFILE_COPY,
    srcRoot: src,
    srcPaths: ['.'],
    destRoot: dest,
    dest: '/app/',
    xattrs: true,
    ...more,
  });
}

export type Spec =
  | string
  | { dir: true; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { link: string }
  | { hardlink: string }
  | { content: string; mode?: number; uid?: number; gid?: number; mtime?: number };

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o755);
  return d;
}

/** Create entries in order (parents created 0755 as needed). */
export function build(root: string, tree: Record<string, Spec>): void {
  const dirTimes: [string, number][] = [];
  for (const [p, spec] of Object.entries(tree)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true, mode: 0o755 });
    if (typeof spec === 'string') {
      writeFileSync(abs, spec, { mode: 0o644 });
      chmodSync(abs, 0o644);
    } else if ('dir' in spec) {
      mkdirSync(abs, { recursive: true });
      chmodSync(abs, spec.mode ?? 0o755);
      if (spec.uid !== undefined) chownSync(abs, spec.uid, spec.gid ?? spec.uid);
      if (spec.mtime !== undefined) dirTimes.push([abs, spec.mtime]);
    } else if ('link' in spec) {
      symlinkSync(spec.link, abs);
      lutimesSync(abs, 1_000_000, 1_000_000);
    } else if ('hardlink' in spec) {
      linkSync(join(root, spec.hardlink), abs);
    } else {
      writeFileSync(abs, spec.content);
      chmodSync(abs, spec.mode ?? 0o644);
      if (spec.uid !== undefined) lchownSync(abs, spec.uid, spec.gid ?? spec.uid);
      if (spec.mtime !== undefined) utimesSync(abs, spec.mtime, spec.mtime);
    }
  }
  // Directory mtimes last: creating their entries changed them.
  for (const [abs, t] of dirTimes) utimesSync(abs, t, t);
}

export interface Seen {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ino: number;
  content?: string;
  link?: string;
}

/** Every entry under root (relative paths, sorted), with what a test may assert. */
export function inspect(root: string): Record<string, Seen> {
  const out: Record<string, Seen> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? root : join(root, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, r);
      const st = lstatSync(abs);
      const type = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : 'other';
      const s: Seen = {
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        ino: st.ino,
      };
      if (type === 'file') s.content = readFileSync(abs, 'utf8');
      if (type === 'symlink') s.link = readlinkSync(abs);
      out[r] = s;
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}
