/**
 * Classifying ADD sources: git repositories (`https://host/repo.git#ref:subdir`, `git@host:repo`,
 * `git://`, `ssh://`) and plain http(s) URLs, as BuildKit's dfgitutil and isHTTPSource do.
 */

export interface GitRef {
  /** The remote without fragment or query. */
  remote: string;
  ref: string;
  subdir: string;
  keepGitDir?: boolean;
  checksum?: string;
}

function splitFragment(src: string): { base: string; fragment: string; query: URLSearchParams } {
  let base = src;
  let fragment = '';
  const hash = base.indexOf('#');
  if (hash >= 0) {
    fragment = base.slice(hash + 1);
    base = base.slice(0, hash);
  }
  let query = new URLSearchParams();
  const q = base.indexOf('?');
  if (q >= 0) {
    query = new URLSearchParams(base.slice(q + 1));
    base = base.slice(0, q);
  }
  return { base, fragment, query };
}

/** The git reference a source names, or undefined when it is not a git source. */
export function parseGitRef(src: string): GitRef | undefined {
  const { base, fragment, query } = splitFragment(src);
  const isGit =
    src.startsWith('git://') ||
    src.startsWith('ssh://') ||
    /^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:/.test(src) ||
    (/^https?:\/\//.test(src) && base.endsWith('.git'));
  if (!isGit) return undefined;
  let ref = '';
  let subdir = '';
  if (fragment !== '') {
    const colon = fragment.indexOf(':');
    ref = colon >= 0 ? fragment.slice(0, colon) : fragment;
    subdir = colon >= 0 ? fragment.slice(colon + 1) : '';
  }
  ref = query.get('ref') ?? query.get('tag') ?? query.get('branch') ?? ref;
  subdir = query.get('subdir') ?? subdir;
  const out: GitRef = { remote: base, ref, subdir };
  const keep = query.get('keep-git-dir');
  if (keep !== null) out.keepGitDir = keep === '' || keep === 'true' || keep === '1';
  const checksum = query.get('checksum') ?? query.get('commit');
  if (checksum) out.checksum = checksum;
  return out;
}

export function isHttpSource(src: string): boolean {
  return (src.startsWith('http://') || src.startsWith('https://')) && parseGitRef(src) === undefined;
}

/** The file name an http source is saved as (BuildKit: the URL's last path element, else `__unnamed__`). */
export function httpFilename(src: string): string {
  try {
    const u = new URL(src);
    const parts = u.pathname.split('/').filter((p) => p !== '');
    const base = parts[parts.length - 1];
    return base && base !== '.' ? decodeURIComponent(base) : '__unnamed__';
  } catch {
    return '__unnamed__';
  }
}
