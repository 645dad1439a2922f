/**
 * The packages a root filesystem holds, for its SBOM: Debian's dpkg status, Alpine's apk
 * database, npm (package-lock.json files and node_modules/<pkg>/package.json) and Python
 * (*.dist-info/METADATA). The rootfs is hostile: every file is read through the confined
 * resolver with a size bound, the walk never follows a symlink, and it visits a bounded number
 * of entries (an image with more gets a partial list rather than an endless scan).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFileInRoot } from '../confine/fd.ts';

export type PackageType = 'deb' | 'apk' | 'npm' | 'pypi';

export interface Package {
  type: PackageType;
  name: string;
  version: string;
  /** Root-relative file the package was found in (`/var/lib/dpkg/status`). */
  source: string;
  /** A package-url (purl) naming it. */
  purl: string;
}

export interface ScanLimits {
  /** Directory entries the walk looks at, at most. */
  maxEntries: number;
  /** Directory depth, at most. */
  maxDepth: number;
  /** Bytes of a package database (dpkg status, apk installed). */
  maxDbBytes: number;
  /** Bytes of a manifest (package.json, METADATA, package-lock.json). */
  maxFileBytes: number;
}

export const DEFAULT_LIMITS: ScanLimits = {
  maxEntries: 500_000,
  maxDepth: 48,
  maxDbBytes: 64 << 20,
  maxFileBytes: 16 << 20,
};

/** Pseudo-filesystems and mount points that hold no packages in an image. */
const SKIP_TOP = new Set(['proc', 'sys', 'dev']);

/** Every package found in `root` (a mounted rootfs), sorted and without duplicates. */
export function scanPackages(root: string, limits: ScanLimits = DEFAULT_LIMITS): Package[] {
  const found = new Map<string, Package>();
  const add = (p: Package) => {
    if (!p.name || !p.version) return;
    const key = `${p.type}\0${p.name}\0${p.version}`;
    if (!found.has(key)) found.set(key, p);
  };
  for (const p of dpkgStatus(root, limits)) add(p);
  for (const p of apkInstalled(root, limits)) add(p);
  walk(root, limits, add);
  return [...found.values()].sort(
    (a, b) =>
      a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version),
  );
}

/** RFC 822-style stanzas separated by blank lines (dpkg status, METADATA headers). */
function stanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur.size) out.push(cur);
      cur = new Map();
      continue;
    }
    if (/^\s/.test(line)) continue; // continuation of `last`: descriptions are not needed
    const c = line.indexOf(':');
    if (c <= 0) continue;
    last = line.slice(0, c);
    cur.set(last, line.slice(c + 1).trim());
  }
  if (cur.size) out.push(cur);
  return out;
}

function dpkgStatus(root: string, limits: ScanLimits): Package[] {
  const file = '/var/lib/dpkg/status';
  const data = readFileInRoot(root, file, limits.maxDbBytes);
  if (!data) return [];
  const out: Package[] = [];
  for (const s of stanzas(data.toString('utf8'))) {
    // Only what is installed: a removed package keeps a stanza with `deinstall ok config-files`.
    if (!(s.get('Status') ?? '').endsWith(' installed')) continue;
    out.push(osPackage('deb', 'debian', s.get('Package'), s.get('Version'), s.get('Architecture'), file));
  }
  return out;
}

/** A distribution package as the SBOM lists it, with its purl (`pkg:deb/debian/name@version?arch=…`). */
function osPackage(
  type: 'deb' | 'apk',
  distro: string,
  name = '',
  version = '',
  arch: string | undefined,
  source: string,
): Package {
  const qualifier = arch ? `?arch=${enc(arch)}` : '';
  return {
    type,
    name,
    version,
    source,
    purl: `pkg:${type}/${distro}/${enc(name)}@${enc(version)}${qualifier}`,
  };
}

function apkInstalled(root: string, limits: ScanLimits): Package[] {
  const file = '/lib/apk/db/installed';
  const data = readFileInRoot(root, file, limits.maxDbBytes);
  if (!data) return [];
  const out: Package[] = [];
  // apk's database: one-letter fields, `P:` name, `V:` version, `A:` arch; blank line between.
  for (const block of data.toString('utf8').split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of block.split('\n')) if (line[1] === ':') f.set(line[0], line.slice(2).trim());
    out.push(osPackage('apk', 'alpine', f.get('P'), f.get('V'), f.get('A'), file));
  }
  return out;
}

/**
 * Walk the tree (never into a symlink, a pseudo-filesystem or past the bounds) for the files
 * that name npm and Python packages.
 */
function walk(root: string, limits: ScanLimits, add: (p: Package) => void): void {
  let budget = limits.maxEntries;
  const visit = (rel: string, depth: number): void => {
    if (depth > limits.maxDepth || budget <= 0) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      return; // unreadable or gone: nothing to list
    }
    for (const e of entries) {
      if (--budget <= 0) return;
      const name = e.name;
      const path = `${rel}/${name}`;
      if (e.isFile()) {
        if (name === 'package-lock.json') for (const p of npmLock(root, path, limits)) add(p);
        else if (name === 'package.json' && rel.split('/').includes('node_modules')) {
          const p = npmManifest(root, path, limits);
          if (p) add(p);
        } else if (name === 'METADATA' && rel.endsWith('.dist-info')) {
          const p = pythonMetadata(root, path, limits);
          if (p) add(p);
        }
        continue;
      }
      // Dirent's type is lstat's: a symlink is never a directory here, so it is never entered.
      if (!e.isDirectory()) continue;
      if (depth === 0 && SKIP_TOP.has(name)) continue;
      visit(path, depth + 1);
    }
  };
  visit('', 0);
}

function readJson(root: string, path: string, limits: ScanLimits): unknown {
  try {
    const data = readFileInRoot(root, path, limits.maxFileBytes);
    return data ? JSON.parse(data.toString('utf8')) : undefined;
  } catch {
    return undefined; // malformed or oversized: not a package this scan can name
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function npmPackage(name: string, version: string, source: string): Package {
  return {
    type: 'npm',
    name,
    version,
    source,
    purl: `pkg:npm/${name.split('/').map(enc).join('/')}@${enc(version)}`,
  };
}

/** A package's own package.json directly under a node_modules folder (`node_modules/x`, `node_modules/@s/x`). */
function npmManifest(root: string, path: string, limits: ScanLimits): Package | undefined {
  const parts = path.split('/');
  const nm = parts.lastIndexOf('node_modules');
  const depthBelow = parts.length - 1 - nm; // components after node_modules, file included
  const scoped = parts[nm + 1]?.startsWith('@');
  if (depthBelow !== (scoped ? 3 : 2)) return undefined;
  const j = readJson(root, path, limits) as Record<string, unknown> | undefined;
  if (!j || typeof j !== 'object') return undefined;
  return npmPackage(str(j.name), str(j.version), path);
}

/** Packages a lockfile installs: v2/v3 `packages` (keys `node_modules/…`), v1 `dependencies`. */
function npmLock(root: string, path: string, limits: ScanLimits): Package[] {
  const j = readJson(root, path, limits) as Record<string, unknown> | undefined;
  if (!j || typeof j !== 'object') return [];
  const out: Package[] = [];
  const pkgs = j.packages;
  if (pkgs && typeof pkgs === 'object') {
    for (const [key, v] of Object.entries(pkgs as Record<string, unknown>)) {
      const at = key.lastIndexOf('node_modules/');
      if (at < 0 || !v || typeof v !== 'object') continue;
      const name = str((v as Record<string, unknown>).name) || key.slice(at + 'node_modules/'.length);
      out.push(npmPackage(name, str((v as Record<string, unknown>).version), path));
    }
    return out;
  }
  const deps = j.dependencies;
  if (deps && typeof deps === 'object') {
    for (const [name, v] of Object.entries(deps as Record<string, unknown>)) {
      if (v && typeof v === 'object')
        out.push(npmPackage(name, str((v as Record<string, unknown>).version), path));
    }
  }
  return out;
}

function pythonMetadata(root: string, path: string, limits: ScanLimits): Package | undefined {
  let data: Buffer | undefined;
  try {
    data = readFileInRoot(root, path, limits.maxFileBytes);
  } catch {
    return undefined; // oversized: not a package this scan can name
  }
  if (!data) return undefined;
  // The headers end at the first blank line; the long description follows.
  const head = stanzas(data.toString('utf8'))[0];
  const name = head?.get('Name') ?? '';
  const version = head?.get('Version') ?? '';
  return {
    type: 'pypi',
    name,
    version,
    source: path,
    purl: `pkg:pypi/${enc(name.toLowerCase().replace(/[-_.]+/g, '-'))}@${enc(version)}`,
  };
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
