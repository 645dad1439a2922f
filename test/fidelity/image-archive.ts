/**
 * Load a built image from what a builder exported — a `docker save` tarball, an OCI layout (tar
 * or directory) — into a comparable summary: the config fields that matter, the history, each
 * layer's entries and the flattened filesystem (whiteouts applied). Summaries are plain JSON, so
 * BuildKit's can be committed as golden data under test/fidelity/testdata/expected/.
 */
import { execFileSync } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { readTarEntries, type TarEntry } from './tar-entries.ts';

/** A layer or filesystem entry as compared: the tar entry minus its path, plus hardlink grouping. */
export interface FsEntry {
  type: TarEntry['type'] | 'whiteout' | 'opaque';
  mode?: string;
  uid?: number;
  gid?: number;
  size?: number;
  sha256?: string;
  link?: string;
  /** For hardlinked files: the smallest path of the group of names sharing the inode. */
  linkGroup?: string;
  /**
   * Set on a layer's directory entry that changes nothing but its mtime (the directory exists
   * below with the same mode and owner), or on an empty /dev, /proc or /sys that a runtime left
   * as a mount point: artifacts of how a builder ran, which the judge does not count.
   */
  artifact?: 'unchanged-dir' | 'mount-stub';
}

export interface LayerSummary {
  diffId: string;
  /** True for the shared busybox base layer, whose entries are not repeated in summaries. */
  base?: boolean;
  entries?: Record<string, FsEntry>;
}

export interface ImageSummary {
  builder: string;
  architecture: string;
  os: string;
  config: Record<string, unknown>;
  history: { created_by: string; empty_layer: boolean }[];
  layers: LayerSummary[];
  /** Flattened filesystem: entries that differ from the base image's, and base paths removed. */
  filesystem: { changed: Record<string, FsEntry>; removed: string[] };
}

/** Config fields the corpus compares (everything else, e.g. `created`, legitimately differs). */
export const CONFIG_FIELDS = [
  'Env',
  'Cmd',
  'Entrypoint',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'Shell',
  'OnBuild',
] as const;

interface LoadedImage {
  config: Record<string, unknown>;
  /** Uncompressed layer tar files, base first. */
  layerFiles: string[];
}

async function decompressTo(src: string, dst: string): Promise<string> {
  const fd = readFileSync(src).subarray(0, 4);
  if (fd[0] === 0x1f && fd[1] === 0x8b) {
    await pipeline(createReadStream(src), createGunzip({ chunkSize: 1 << 20 }), createWriteStream(dst));
    return dst;
  }
  if (fd[0] === 0x28 && fd[1] === 0xb5 && fd[2] === 0x2f && fd[3] === 0xfd) {
    await pipeline(createReadStream(src), createZstdDecompress(), createWriteStream(dst));
    return dst;
  }
  return src;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg, hex);
}

/** Follow an OCI index to the linux/amd64 (or only) image manifest. */
function ociManifest(dir: string, desc: Record<string, unknown>): Record<string, unknown> {
  const doc = readJson(blobPath(dir, desc.digest as string));
  const manifests = doc.manifests as Record<string, unknown>[] | undefined;
  if (!manifests) return doc;
  const pick =
    manifests.find((m) => (m.platform as { architecture?: string } | undefined)?.architecture === 'amd64') ??
    manifests[0];
  return ociManifest(dir, pick);
}

async function loadFromDir(dir: string, scratch: string): Promise<LoadedImage> {
  let config: Record<string, unknown>;
  let layers: string[];
  if (existsSync(join(dir, 'manifest.json'))) {
    const m = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>[])[0];
    config = readJson(join(dir, m.Config as string));
    layers = (m.Layers as string[]).map((l) => join(dir, l));
  } else if (existsSync(join(dir, 'index.json'))) {
    const index = readJson(join(dir, 'index.json'));
    const manifest = ociManifest(dir, (index.manifests as Record<string, unknown>[])[0]);
    config = readJson(blobPath(dir, (manifest.config as { digest: string }).digest));
    layers = (manifest.layers as { digest: string }[]).map((l) => blobPath(dir, l.digest));
  } else {
    throw new Error(`${dir}: neither a docker-save archive (manifest.json) nor an OCI layout (index.json)`);
  }
  const layerFiles: string[] = [];
  for (const [i, l] of layers.entries())
    layerFiles.push(await decompressTo(l, join(scratch, `layer-${i}.tar`)));
  return { config, layerFiles };
}

function summariseEntries(entries: TarEntry[]): Record<string, FsEntry> {
  const out: Record<string, FsEntry> = {};
  const groups = new Map<string, string[]>();
  for (const e of entries) {
    const base = e.path.slice(e.path.lastIndexOf('/') + 1);
    const dir = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
    if (base === '.wh..wh..opq') {
      out[`${dir === '/' ? '' : dir}/.wh..wh..opq`] = { type: 'opaque' };
      continue;
    }
    if (base.startsWith('.wh.')) {
      out[`${dir === '/' ? '' : dir}/${base.slice(4)}`] = { type: 'whiteout' };
      continue;
    }
    if (e.path === '/') continue; // the root entry's presence and mode vary between writers
    const fe: FsEntry = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
    if (e.type === 'file') Object.assign(fe, { size: e.size, sha256: e.sha256 });
    if (e.type === 'symlink') fe.link = e.link;
    if (e.type === 'hardlink' && e.link) {
      const target = out[e.link];
      Object.assign(fe, {
        type: 'file',
        size: target?.size,
        sha256: target?.sha256,
        mode: target?.mode ?? e.mode,
      });
      const g = groups.get(e.link) ?? [e.link];
      g.push(e.path);
      groups.set(e.link, g);
    }
    out[e.path] = fe;
  }
  for (const g of groups.values()) {
    const first = [...g].sort()[0];
    for (const p of g) if (out[p]) out[p].linkGroup = first;
  }
  return out;
}

/** Apply one layer's entries (with whiteouts) onto a flattened filesystem map. */
export function applyLayer(fs: Map<string, FsEntry>, layer: Record<string, FsEntry>): void {
  const removeUnder = (p: string, keepSelf: boolean): void => {
    const prefix = p === '/' ? '/' : `${p}/`;
    for (const k of [...fs.keys()]) if (k.startsWith(prefix) || (!keepSelf && k === p)) fs.delete(k);
  };
  for (const [p, e] of Object.entries(layer)) {
    if (e.type === 'opaque') removeUnder(p.slice(0, -'/.wh..wh..opq'.length) || '/', true);
    else if (e.type === 'whiteout') removeUnder(p, false);
  }
  for (const [p, e] of Object.entries(layer)) {
    if (e.type === 'opaque' || e.type === 'whiteout') continue;
    const old = fs.get(p);
    if (old && old.type === 'dir' && e.type !== 'dir') removeUnder(p, true);
    fs.set(p, e);
  }
}

const MOUNT_STUBS = new Set(['/dev', '/proc', '/sys']);

function markArtifacts(below: Map<string, FsEntry>, layer: Record<string, FsEntry>): void {
  const opaque = new Set(Object.keys(layer).filter((p) => p.endsWith('/.wh..wh..opq')));
  for (const [p, e] of Object.entries(layer)) {
    if (e.type !== 'dir' || opaque.has(`${p === '/' ? '' : p}/.wh..wh..opq`)) continue;
    const old = below.get(p);
    if (old && old.type === 'dir' && old.mode === e.mode && old.uid === e.uid && old.gid === e.gid) {
      e.artifact = 'unchanged-dir';
    } else if (!old && MOUNT_STUBS.has(p) && !Object.keys(layer).some((q) => q.startsWith(`${p}/`))) {
      e.artifact = 'mount-stub';
    }
  }
}

function pickConfig(config: Record<string, unknown>): Record<string, unknown> {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_FIELDS) {
    const v = c[k];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 0 && k !== 'Cmd' && k !== 'Entrypoint') continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
    if (v === '') continue;
    out[k] = v;
  }
  return out;
}

export interface SummariseOptions {
  builder: string;
  /** diffID of the shared base layer: its entries are not listed (only `base: true`). */
  baseDiffId?: string;
  /** Flattened entries of the base image, to report only what changed from it. */
  baseFs?: Map<string, FsEntry>;
}

/** Summarise an exported image (docker-save or OCI, tar file or directory). */
export async function summariseImage(archive: string, opts: SummariseOptions): Promise<ImageSummary> {
  const scratch = mkdtempSync(join(tmpdir(), 'kiln-fid-'));
  try {
    let dir = archive;
    if (!statSync(archive).isDirectory()) {
      dir = join(scratch, 'x');
      execFileSync('mkdir', ['-p', dir]);
      execFileSync('tar', ['-xf', archive, '-C', dir]);
    }
    const img = await loadFromDir(dir, scratch);
    const diffIds = ((img.config.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? []) as string[];
    const layers: LayerSummary[] = [];
    const fs = new Map<string, FsEntry>();
    for (const [i, file] of img.layerFiles.entries()) {
      const entries = summariseEntries(readTarEntries(file));
      markArtifacts(fs, entries);
      applyLayer(fs, entries);
      const diffId = diffIds[i] ?? '';
      layers.push(
        opts.baseDiffId && diffId === opts.baseDiffId ? { diffId, base: true } : { diffId, entries },
      );
    }
    const changed: Record<string, FsEntry> = {};
    const removed: string[] = [];
    const base = opts.baseFs ?? new Map<string, FsEntry>();
    for (const [p, e] of [...fs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const { artifact, ...plain } = e;
      const kept = artifact === 'mount-stub' ? e : plain;
      if (JSON.stringify(base.get(p)) !== JSON.stringify(plain)) changed[p] = kept;
    }
    for (const p of [...base.keys()].sort()) if (!fs.has(p)) removed.push(p);
    const history = ((img.config.history ?? []) as { created_by?: string; empty_layer?: boolean }[]).map(
      (h) => ({
        created_by: h.created_by ?? '',
        empty_layer: h.empty_layer === true,
      }),
    );
    return {
      builder: opts.builder,
      architecture: String(img.config.architecture ?? ''),
      os: String(img.config.os ?? ''),
      config: pickConfig(img.config),
      history,
      layers,
      filesystem: { changed, removed },
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The base busybox rootfs tar as a flattened map (for `baseFs`) and its diffID. */
export function baseFilesystem(rootfsTar: string): { diffId: string; fs: Map<string, FsEntry> } {
  const fs = new Map<string, FsEntry>();
  applyLayer(fs, summariseEntries(readTarEntries(rootfsTar)));
  const diffId = `sha256:${execFileSync('sha256sum', [rootfsTar], { encoding: 'utf8' }).split(' ')[0]}`;
  return { diffId, fs };
}
