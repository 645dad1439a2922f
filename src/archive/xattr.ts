/**
 * Extended attributes through the `attr` tools (Node has no xattr API): one `getfattr -R`
 * process reads a whole tree, one `setfattr --restore` process writes a batch. Neither
 * follows symlinks (-h / physical walk), so a symlink's own attributes are what we see and set.
 * Paths and attribute names travel as bytes (names that are not UTF-8 included: sys/fsname.ts).
 */
import { fdPath, type Held, isReplaced, openParentStrict } from '../confine/fd.ts';
import { KilnError } from '../errors/errors.ts';
import { NOT_FOUND, runShort, type ShortResult } from '../sys/forkserver.ts';
import { closeSync, constants, fstatSync, O_PATH, openSync } from '../sys/fs.ts';
import { decodeName, encodeName, hasEscape } from '../sys/fsname.ts';

export type Xattrs = Record<string, Buffer>;

/**
 * Attributes that never travel in a layer: overlayfs' own bookkeeping (whiteouts and opaque
 * dirs are expressed as OCI whiteouts instead; a layer that sets them could redirect lookups)
 * and SELinux labels, which belong to the host that wrote them.
 */
export function isPortableXattr(name: string): boolean {
  return (
    !name.startsWith('trusted.overlay.') && !name.startsWith('user.overlay.') && name !== 'security.selinux'
  );
}

function toolMissing(tool: string, cause: unknown): KilnError {
  return new KilnError('XATTR_TOOL_MISSING', `cannot run ${tool} to handle extended attributes`, {
    hint: 'install the Debian package "attr" (apt-get install attr); scripts/setup.sh does this',
    cause,
  });
}

/** Run an attr tool from the fork server (sys/forkserver.ts): these run at every COPY and commit. */
async function run(
  tool: string,
  args: string[],
  input?: Buffer,
): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  let r: ShortResult;
  try {
    r = await runShort(tool, args, { input });
  } catch (err) {
    throw toolMissing(tool, err);
  }
  const stderr = r.stderr.toString();
  if (r.status === NOT_FOUND) throw toolMissing(tool, new Error(stderr.trim()));
  return { stdout: r.stdout, stderr, code: r.status };
}

/** getfattr quotes paths and names: `\ooo` octal escapes for control bytes and backslash. */
function unquote(latin1: string): string {
  const bytes = latin1.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return decodeName(Buffer.from(bytes, 'latin1'));
}

function quote(s: string): string {
  const b = encodeName(s);
  let out = '';
  for (const byte of b) {
    out +=
      byte <= 0x20 || byte === 0x5c || byte === 0x7f
        ? `\\${byte.toString(8).padStart(3, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}

/** Parse `getfattr -d -e base64` output into absolute path → attributes. */
function parseDump(out: Buffer): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of out.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      result.set(unquote(line.slice(8)), current);
    } else if (line && current) {
      const eq = line.indexOf('=');
      const name = unquote(eq < 0 ? line : line.slice(0, eq));
      const value = eq < 0 ? '' : line.slice(eq + 1);
      current[name] = value.startsWith('0s')
        ? Buffer.from(value.slice(2), 'base64')
        : Buffer.from(value, 'latin1');
    }
  }
  return result;
}

/**
 * Every attribute of every file under `root` (including root itself), keyed by path relative
 * to root ('' for the root). Files without attributes are absent from the map.
 */
export async function readXattrTree(root: string): Promise<Map<string, Xattrs>> {
  if (!hasEscape(root)) return await readTree(root, true);
  // Arguments reach the program as UTF-8: a root whose name is not is handed over as our
  // descriptor of it (the jump through /proc does not follow a symlink again).
  return await readHeld(openSync(root, O_PATH | constants.O_NOFOLLOW));
}

/**
 * readXattrTree of what descriptor `fd` holds (an O_PATH one, closed here), through /proc: `N/.`
 * is a directory itself, and `N` followed (no -h) is the very file or symlink it holds.
 */
async function readHeld(fd: number): Promise<Map<string, Xattrs>> {
  try {
    const dir = fstatSync(fd).isDirectory();
    return await readTree(`/proc/${process.pid}/fd/${fd}${dir ? '/.' : ''}`, dir);
  } finally {
    closeSync(fd);
  }
}

/**
 * readXattrTree of entry `rel` of `root`, reached through descriptors with no symlink followed on
 * the way or at `rel` itself: `root` is the caller's (a context directory, a snapshot), but what
 * is inside it may have been swapped for a link to the host since it was copied. Undefined when
 * `rel` or a parent of it is gone or no longer what a walk may pass (a symlink).
 */
export async function readXattrTreeIn(root: string, rel: string): Promise<Map<string, Xattrs> | undefined> {
  let fd: number;
  if (rel === '') fd = openSync(root, O_PATH | constants.O_DIRECTORY);
  else {
    const found = openParentStrict(root, rel);
    if (found === undefined) return undefined;
    try {
      fd = openSync(fdPath(found.dir.fd, found.name), O_PATH | constants.O_NOFOLLOW);
    } catch (err) {
      if (isReplaced(err)) return undefined;
      throw err;
    } finally {
      found.dir.close();
    }
  }
  return await readHeld(fd);
}

/**
 * The attributes of some entries of the tree under `root` (paths relative to it, '' for root
 * itself, a directory), keyed as readXattrTree keys them, in one getfattr run without -R: a copy
 * of one changed file among 20,000 need not read the attributes of the other 19,999 (~0.13 s).
 * Each entry is reached through a descriptor of its parent directory, opened inside `root` with
 * no symlink followed, and is not followed itself (-h). Undefined when that cannot be done here
 * (a name that is not UTF-8, a parent gone or swapped for a symlink): read the tree instead.
 */
export async function readXattrsIn(
  root: string,
  rels: readonly string[],
): Promise<Map<string, Xattrs> | undefined> {
  if (rels.some(hasEscape)) return undefined;
  const parents = new Map<string, OpenDir>();
  const targets = new Map<string, string>();
  try {
    for (const rel of rels) {
      const slash = rel.lastIndexOf('/');
      const parent = rel === '' ? undefined : slash === -1 ? '' : rel.slice(0, slash);
      let dir = parents.get(parent ?? '.');
      if (dir === undefined) {
        // The root itself only as a directory (`N/.`); a file there is read as readXattrTree does.
        const opened = parent === undefined ? openRootDir(root) : openParentStrict(root, rel)?.dir;
        if (opened === undefined) return undefined;
        dir = opened;
        parents.set(parent ?? '.', dir);
      }
      const name = rel === '' ? '.' : rel.slice(slash + 1);
      targets.set(`/proc/${process.pid}/fd/${dir.fd}/${name}`, rel);
    }
    const dumped = await getfattr(['-h'], [...targets.keys()], `under ${root}`);
    const out = new Map<string, Xattrs>();
    for (const [p, x] of parseDump(dumped)) {
      const rel = targets.get(p);
      if (rel !== undefined) out.set(rel, x);
    }
    return out;
  } finally {
    for (const dir of parents.values()) dir.close();
  }
}

/** A directory descriptor readXattrsIn holds: a parent (confine/fd.ts Held) or the root itself. */
type OpenDir = Pick<Held, 'fd' | 'close'>;

function openRootDir(root: string): OpenDir | undefined {
  let fd: number;
  try {
    fd = openSync(root, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  return { fd, close: () => closeSync(fd) };
}

/** getfattr's dump (every attribute, base64) of `targets` with `flags`; `what` names it in the error. */
async function getfattr(flags: string[], targets: string[], what: string): Promise<Buffer> {
  const r = await run('getfattr', [
    ...flags,
    '-d',
    '-m',
    '-',
    '-e',
    'base64',
    '--absolute-names',
    '--',
    ...targets,
  ]);
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr)
    throw new KilnError(
      'XATTR_READ_FAILED',
      `reading extended attributes ${what} failed: ${r.stderr.trim()}`,
    );
  return r.stdout;
}

/**
 * The attributes of one file itself (a symlink's own; a directory's, not its contents'). A
 * path whose name is not UTF-8 is read through a descriptor, as readXattrTree does.
 */
export async function readXattrs(file: string): Promise<Xattrs> {
  let fd: number | undefined;
  let target = file;
  if (hasEscape(file)) {
    fd = openSync(file, O_PATH | constants.O_NOFOLLOW);
    target = `/proc/${process.pid}/fd/${fd}`;
  }
  try {
    const dumped = await getfattr(fd === undefined ? ['-h'] : [], [target], `of ${file}`);
    return [...parseDump(dumped).values()][0] ?? {};
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** getfattr over `root` (-h: a symlink's own attributes; without it, only for a /proc descriptor). */
async function readTree(root: string, noFollow: boolean): Promise<Map<string, Xattrs>> {
  const dumped = await getfattr(['-R', '-P', ...(noFollow ? ['-h'] : [])], [root], `under ${root}`);
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const out = new Map<string, Xattrs>();
  for (const [p, x] of parseDump(dumped)) {
    if (p === root || p === prefix) out.set('', x);
    else if (p.startsWith(prefix)) out.set(p.slice(prefix.length), x);
  }
  return out;
}

/**
 * Set attributes on many files in one `setfattr -h --restore` run. Paths must already be
 * confined (the caller resolved them under its root); the last component is never followed.
 * A failure names the files relative to `root` when given (what the user knows them by).
 */
export async function writeXattrs(items: { path: string; xattrs: Xattrs }[], root?: string): Promise<void> {
  const parts: string[] = [];
  for (const { path, xattrs } of items) {
    const names = Object.keys(xattrs);
    if (names.length === 0) continue;
    parts.push(`# file: ${quote(path)}\n`);
    for (const n of names) parts.push(`${quote(n)}=0s${xattrs[n].toString('base64')}\n`);
    parts.push('\n');
  }
  if (parts.length === 0) return;
  const r = await run('setfattr', ['-h', '--restore=-'], Buffer.from(parts.join(''), 'latin1'));
  if (r.code !== 0) {
    const stderr = root ? r.stderr.replaceAll(`${root}/`, '/').replaceAll(`${root}:`, '/:') : r.stderr;
    throw new KilnError('XATTR_WRITE_FAILED', `setting extended attributes failed: ${stderr.trim()}`, {
      hint: 'trusted.* and security.* attributes need root; the filesystem must support xattrs',
    });
  }
}
